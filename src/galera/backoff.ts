/**
 * Exponential backoff with full jitter: after an etcd outage every node re-registers at once, and
 * jitter keeps them from hammering the recovering cluster in lockstep.
 */
export interface BackoffOptions {
  /** @default 250 */
  readonly initialMs?: number;
  /** @default 10000 */
  readonly maxMs?: number;
  /** A number in [0, 1); injected so tests are deterministic. @default Math.random */
  readonly random?: () => number;
}

export interface Backoff {
  /** Delay before the next attempt; grows with each call until `reset`. */
  next(): number;
  reset(): void;
}

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 10_000;
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next(): number {
      const ceiling = Math.min(max, initial * 2 ** attempt);
      attempt += 1;
      // Never below half the ceiling, so a retry storm still spreads out but does not spin.
      return Math.round(ceiling / 2 + random() * (ceiling / 2));
    },
    reset(): void {
      attempt = 0;
    },
  };
}
