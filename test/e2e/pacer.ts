/**
 * A fixed-rate schedule with a cap on work in flight. A tick that comes due while the cap is reached,
 * or that passed while the event loop was busy, is skipped and counted, never made up later: on a
 * slow machine the load gets thinner, not burstier, so a saturated host cannot pile up connections.
 */
export interface PacerOptions {
  readonly startedAt: number;
  readonly intervalMs: number;
  readonly maxInFlight: number;
}

export interface PacerState {
  /** Index of the next tick not yet decided (tick k is due at startedAt + k * intervalMs). */
  readonly nextTick: number;
  /** Ticks that passed while the caller was late. */
  readonly skippedLate: number;
  /** Ticks that came due with `maxInFlight` still open. */
  readonly skippedAtCap: number;
}

export interface PacerStep {
  /** Whether to start one unit of work now. */
  readonly launch: boolean;
  readonly state: PacerState;
  /** How long to wait before the next decision (0 when it is due already). */
  readonly waitMs: number;
}

export const initialPacerState: PacerState = { nextTick: 0, skippedLate: 0, skippedAtCap: 0 };

/** Decides the tick due at `now`; at most one launch per call, whatever the lateness. */
export function pace(options: PacerOptions, state: PacerState, now: number, inFlight: number): PacerStep {
  const dueAt = (tick: number): number => options.startedAt + tick * options.intervalMs;
  if (now < dueAt(state.nextTick)) return { launch: false, state, waitMs: dueAt(state.nextTick) - now };
  const current = Math.max(state.nextTick, Math.floor((now - options.startedAt) / options.intervalMs));
  const launch = inFlight < options.maxInFlight;
  const next: PacerState = {
    nextTick: current + 1,
    skippedLate: state.skippedLate + (current - state.nextTick),
    skippedAtCap: state.skippedAtCap + (launch ? 0 : 1),
  };
  return { launch, state: next, waitMs: Math.max(0, dueAt(next.nextTick) - now) };
}
