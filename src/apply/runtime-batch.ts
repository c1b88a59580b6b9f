import { ApplyError } from '../errors.js';
import type { RuntimeCommand } from './runtime-commands.js';

/**
 * The commands of one server change, run on one line (`;`-joined) so that HAProxy runs them back to back
 * with no health check in between (e.g. `add server` at weight 0 … `health down` … weight back).
 */
export interface CommandGroup {
  /** `backend/server`: named in errors. */
  readonly label: string;
  readonly commands: readonly RuntimeCommand[];
}

export interface BatchLimits {
  /**
   * Longest single command. HAProxy reads a request command by command (up to each `;` or line end)
   * into a buffer of `tune.bufsize` (16384 by default, in 2.6 and 3.0); a longer one is refused ("The
   * command is too big for the buffer size" in 3.0, a closed connection in 2.6). Half of the default
   * leaves room for a smaller `tune.bufsize`. @default 8192
   */
  readonly maxCommandBytes: number;
  /**
   * Bytes of commands sent on one connection. A line's length is not limited (see above), but a batch
   * that fails part-way leaves its tail unknown: bounded batches bound what a retry repairs. @default 262144
   */
  readonly maxBatchBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxCommandBytes: 8192, maxBatchBytes: 256 * 1024 };

/** Raw reply stream of one interactive-mode exchange (see `sendSocketBatch`); injected for tests. */
export type BatchSend = (lines: readonly string[]) => Promise<string>;

/** A server change HAProxy refused (or never answered): the first command of its group that failed. */
export interface GroupFailure {
  readonly label: string;
  readonly command: string;
  /** HAProxy's words, or null when the connection closed before this command was answered. */
  readonly reply: string | null;
}

export interface BatchOutcome<G extends CommandGroup = CommandGroup> {
  /** Groups whose every command answered as expected. */
  readonly applied: readonly G[];
  readonly failures: readonly GroupFailure[];
  /** Connections used. */
  readonly batches: number;
  /** Commands sent. */
  readonly commands: number;
}

const lineOf = (group: CommandGroup): string => group.commands.map((c) => c.text).join('; ');
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/**
 * Splits groups into batches of at most `maxBatchBytes` (a group larger than that goes alone), keeping
 * their order. Refuses, before anything is sent, a command HAProxy would not take whole: one carrying a
 * separator (`;`, a line end) or the payload marker `<<` at its end, or one longer than `maxCommandBytes`.
 */
export function planBatches<G extends CommandGroup>(groups: readonly G[], limits: BatchLimits = DEFAULT_BATCH_LIMITS): G[][] {
  for (const group of groups) {
    for (const c of group.commands) {
      if (/[;\n\r]/.test(c.text) || /<<\S{0,7}$/.test(c.text)) {
        throw new ApplyError('RUNTIME_API', `${group.label}: runtime command would be split by HAProxy: ${JSON.stringify(c.text)}`);
      }
      if (bytes(c.text) > limits.maxCommandBytes) {
        throw new ApplyError('RUNTIME_API', `${group.label}: runtime command of ${bytes(c.text)} bytes is longer than ${limits.maxCommandBytes}: ${c.text.slice(0, 80)}…`);
      }
    }
  }
  const batches: G[][] = [];
  let current: G[] = [];
  let size = 0;
  for (const group of groups) {
    const length = bytes(lineOf(group)) + 1;
    if (current.length > 0 && size + length > limits.maxBatchBytes) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(group);
    size += length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const PROMPT = '\n> ';

/**
 * The reply stream of `prompt`, N commands, `quit` → N replies, trimmed. HAProxy (2.6 and 3.0) follows
 * `prompt` and then every command with `\n> `; `quit` closes without one. A stream cut short (HAProxy
 * stopped, the connection broke) yields fewer replies: the missing ones are null. More pieces than
 * commands means a reply cannot be told from a prompt, and nothing can be matched: that throws.
 */
export function splitPromptReplies(raw: string, count: number): (string | null)[] {
  if (!raw.startsWith(PROMPT)) {
    if (raw === '') return Array.from({ length: count }, () => null);
    throw new ApplyError('RUNTIME_API', `the stats socket did not enter interactive mode: ${JSON.stringify(raw.slice(0, 200))}`, { retryable: true });
  }
  const pieces = raw.slice(PROMPT.length).split(PROMPT);
  // Every answered command leaves a piece before its prompt; the text after the last prompt is what
  // `quit` (or a cut) left, and is empty when the stream is whole.
  const tail = pieces.pop() ?? '';
  if (pieces.length > count || (pieces.length === count && tail.trim() !== '')) {
    throw new ApplyError('RUNTIME_API', `cannot match the replies of a batch to its ${count} commands: ${pieces.length} prompts, then ${JSON.stringify(tail.slice(0, 200))}`);
  }
  return Array.from({ length: count }, (_, i) => (i < pieces.length ? (pieces[i] ?? '').trim() : null));
}

/** Checks each command's reply on its own; a group fails at its first command that did not answer as expected. */
export function checkGroupReplies<G extends CommandGroup>(groups: readonly G[], replies: readonly (string | null)[]): { applied: G[]; failures: GroupFailure[] } {
  const applied: G[] = [];
  const failures: GroupFailure[] = [];
  let at = 0;
  for (const group of groups) {
    let failure: GroupFailure | null = null;
    for (const c of group.commands) {
      const reply = replies[at] ?? null;
      at += 1;
      if (failure === null && (reply === null || !c.ok(reply))) failure = { label: group.label, command: c.text, reply };
    }
    if (failure === null) applied.push(group);
    else failures.push(failure);
  }
  return { applied, failures };
}

/**
 * Runs the groups in batches, one connection each, and checks every reply. A refused command does not
 * stop the batch (HAProxy goes on with the next line, and so do we): the outcome lists what was applied
 * and what failed, and the caller decides. A connection that fails outright throws (retryable), after
 * the batches before it were applied.
 */
export async function runBatches<G extends CommandGroup>(send: BatchSend, groups: readonly G[], limits: BatchLimits = DEFAULT_BATCH_LIMITS): Promise<BatchOutcome<G>> {
  const applied: G[] = [];
  const failures: GroupFailure[] = [];
  let commands = 0;
  const batches = planBatches(groups, limits);
  for (const batch of batches) {
    const count = batch.reduce((n, g) => n + g.commands.length, 0);
    const replies = splitPromptReplies(await send(batch.map(lineOf)), count);
    const checked = checkGroupReplies(batch, replies);
    applied.push(...checked.applied);
    failures.push(...checked.failures);
    commands += count;
  }
  return { applied, failures, batches: batches.length, commands };
}

/** One line naming each refused server change with HAProxy's words (the first few, then how many more). */
export function describeFailures(failures: readonly GroupFailure[], shown = 5): string {
  const parts = failures
    .slice(0, shown)
    .map((f) => `${f.label}: "${f.command}" ${f.reply === null ? 'got no reply (the connection closed first)' : `refused: ${JSON.stringify(f.reply)}`}`);
  const more = failures.length > shown ? `; and ${failures.length - shown} more` : '';
  return `${failures.length} runtime change(s) refused: ${parts.join('; ')}${more}`;
}
