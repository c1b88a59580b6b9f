/**
 * consul-template's min/max quiescence: every change pushes the deadline back by `minMs`, but never past
 * the first unapplied change + `maxMs`, so a steady stream of changes cannot postpone an apply forever.
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
  private firstAt: number | null = null;
  private timer: unknown = null;

  constructor(
    private readonly wait: Wait,
    private readonly fire: () => void,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records a change; the callback fires once the changes have been quiet for `minMs` (or `maxMs` passed). */
  poke(): void {
    const now = this.clock.now();
    if (this.firstAt === null) this.firstAt = now;
    const deadline = Math.min(now + this.wait.minMs, this.firstAt + this.wait.maxMs);
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.expire(), Math.max(0, deadline - now));
  }

  get pending(): boolean {
    return this.firstAt !== null;
  }

  cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.firstAt = null;
  }

  private expire(): void {
    this.timer = null;
    this.firstAt = null;
    this.fire();
  }
}
