/**
 * The goal table every bench ends with: one row per goal figure, each with the baseline
 * measured in the same run and whether the goal is met, so one run answers "where do we stand".
 */
export interface GoalRow {
  /** What is measured, e.g. "put→live p99". */
  readonly measure: string;
  /** The figure, formatted with its unit. */
  readonly value: string;
  /** The baseline of the same run, formatted, with what it is. */
  readonly baseline: string;
  /** The goal as written in the issue, e.g. "≤ 10 ms"; {@link NO_GOAL} for a figure shown beside one. */
  readonly goal: string;
  /** null: not measured in this run (a mode left out, a size below the goal's); the row says why. */
  readonly met: boolean | null;
  /** Why `met` is null. */
  readonly note?: string;
}

/** The `goal` of a row printed for context (a p50 beside the p99 goal). */
export const NO_GOAL = '—';

/** A goal that holds when `value <= limit`; null when the value was not measured. */
export function atMost(value: number | null, limit: number): boolean | null {
  return value === null || !Number.isFinite(value) ? null : value <= limit;
}

/** A goal that holds when `value >= limit`; null when the value was not measured. */
export function atLeast(value: number | null, limit: number): boolean | null {
  return value === null || !Number.isFinite(value) ? null : value >= limit;
}

export function formatGoalTable(title: string, rows: readonly GoalRow[]): string {
  const verdict = (row: GoalRow): string => {
    if (row.goal === NO_GOAL) return '';
    if (row.met === null) return `not measured${row.note === undefined ? '' : ` (${row.note})`}`;
    return row.met ? 'met' : '**not met**';
  };
  return [
    `| ${title} | value | baseline (same run) | goal | |`,
    '|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.measure} | ${row.value} | ${row.baseline} | ${row.goal} | ${verdict(row)} |`),
  ].join('\n');
}

/** The rows as JSON, for the bench's last line. */
export function goalsJson(rows: readonly GoalRow[]): Record<string, { value: string; baseline: string; goal: string; met: boolean | null }> {
  return Object.fromEntries(rows.map((row) => [row.measure, { value: row.value, baseline: row.baseline, goal: row.goal, met: row.met }]));
}
