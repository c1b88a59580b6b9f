/**
 * When to run a sync pass after changes: at once when idle (leading edge), coalesced when not.
 *
 * - Idle (no pass running and none ended or started in the last `minMs`): the first change fires now, so a
 *   single etcd put is not held back by a debounce it does not need.
 * - Busy (a pass running): changes wait for it to end; a burst that lands during the leading pass is the
 *   next pass, not one pass per event.
 * - Cooling (less than `minMs` since a pass ended or fired) and after a busy spell: consul-template's
 *   min/max quiescence: every change pushes the pass back by `minMs`, never past the first unapplied change
 *   + `maxMs`, so a steady stream cannot postpone a pass forever. A pass cannot be cut short: changes that
 *   came during a long pass run right after it when their deadline has gone by.
 *
 * A burst therefore costs at most two passes: the leading one and one with everything that came meanwhile.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface Wait {
  readonly minMs: number;
  readonly maxMs: number;
}

/** Parses `MIN:MAX` or `MIN` (max = 4 × min), each a number with an optional ms/s/m unit. */
export function parseWait(text: string): Wait {
  const parts = text.split(':');
  if (parts.length > 2 || parts.some((p) => p.trim() === '')) {
    throw new Error(`--wait "${text}" must be MIN or MIN:MAX, e.g. 50ms:500ms`);
  }
  const minMs = parseDuration(parts[0] ?? '', '--wait MIN');
  const maxMs = parts[1] === undefined ? minMs * 4 : parseDuration(parts[1], '--wait MAX');
  if (maxMs < minMs) throw new Error(`--wait "${text}": MAX must not be smaller than MIN`);
  return { minMs, maxMs };
}

/** A duration such as `250ms`, `2s`, `1m` or a bare number of milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new Error(`${what} "${text}" is not a duration (e.g. 250ms, 2s, 1m)`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  const ms = Math.round(value * factor);
  if (!Number.isSafeInteger(ms) || ms > 86_400_000) throw new Error(`${what} "${text}" is longer than a day`);
  return ms;
}

export class Quiescence {
  /** First and last change not yet in a pass; null when nothing waits. */
  private firstAt: number | null = null;
  private lastAt = 0;
  private timer: unknown = null;
  private busy = false;
  /** When the last pass ended or was fired; changes within `minMs` of it are coalesced. */
  private quietFrom = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly wait: Wait,
    private readonly fire: () => void,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records a change: fires now when idle, otherwise once the rules above allow. */
  poke(): void {
    const now = this.clock.now();
    if (this.firstAt === null) this.firstAt = now;
    this.lastAt = now;
    this.schedule();
  }

  /**
   * A pass (or a drift repair) now holds HAProxy. `withChanges`: it reads the latest view, so every change
   * recorded so far is in it.
   */
  begin(withChanges: boolean): void {
    this.busy = true;
    this.clearTimer();
    if (withChanges) this.firstAt = null;
  }

  /** The pass ended: changes that came meanwhile are scheduled, and the next MIN is a cooling window. */
  end(): void {
    this.busy = false;
    this.quietFrom = this.clock.now();
    this.schedule();
  }

  get pending(): boolean {
    return this.firstAt !== null;
  }

  cancel(): void {
    this.clearTimer();
    this.firstAt = null;
  }

  private schedule(): void {
    if (this.busy || this.firstAt === null) return;
    this.clearTimer();
    const now = this.clock.now();
    const leading = this.firstAt >= this.quietFrom + this.wait.minMs;
    const deadline = leading ? this.firstAt : Math.min(this.lastAt + this.wait.minMs, this.firstAt + this.wait.maxMs);
    if (deadline <= now) this.expire();
    else this.timer = this.clock.setTimeout(() => this.expire(), deadline - now);
  }

  private expire(): void {
    this.timer = null;
    this.firstAt = null;
    // Until the owner says a pass began, the next changes are coalesced rather than fired one by one.
    this.quietFrom = this.clock.now();
    this.fire();
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
