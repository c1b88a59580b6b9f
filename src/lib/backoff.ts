// In lib/: source (etcd reconnects), galera (registration) and daemon (sync retries) back off alike,
// and none of them sits below the others.
import type { IBackoff } from 'cockatiel';

/**
 * Where in its range a delay may fall, `c` being `min(maxMs, initialMs·2^attempt)`. Jitter keeps a fleet
 * of nodes from retrying in lockstep after an outage; each shape has a floor so a retry never spins.
 * - `half-ceiling`: uniform in [c/2, c]. Registration: a storm spreads out but each wait still grows.
 * - `half-initial`: uniform in [initialMs/2, c]. etcd reconnects: the whole range, so watchers spread widely.
 * - `twenty-percent`: uniform in [0.8·c, 1.2·c]. Sync retries: close to the doubled delay.
 */
export type Jitter = 'half-ceiling' | 'half-initial' | 'twenty-percent';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly jitter: Jitter;
  /** A number in [0, 1); injected so tests are deterministic. @default Math.random */
  readonly random?: () => number;
}

/**
 * Exponential backoff with jitter. Immutable and shaped like cockatiel's `IBackoff` (`duration`, then
 * `next()` for the following attempt), so etcd3's watch manager takes it directly; cockatiel's own
 * generators read `Math.random` directly and start from 0, so they could be neither tested nor floored.
 */
export class Backoff implements IBackoff<unknown> {
  /** Milliseconds to wait before this attempt. */
  readonly duration: number;

  constructor(
    private readonly options: BackoffOptions,
    private readonly attempt = 0,
  ) {
    const { initialMs, maxMs, jitter } = options;
    const random = options.random ?? Math.random;
    const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
    if (jitter === 'twenty-percent') {
      this.duration = Math.round(ceiling * (0.8 + random() * 0.4));
    } else {
      const floor = jitter === 'half-ceiling' ? ceiling / 2 : Math.min(ceiling, initialMs / 2);
      this.duration = Math.round(floor + (ceiling - floor) * random());
    }
  }

  next(_context?: unknown): Backoff {
    // Stop doubling once past the cap so the exponent cannot overflow to Infinity.
    const capped = this.options.initialMs * 2 ** this.attempt >= this.options.maxMs;
    return new Backoff(this.options, capped ? this.attempt : this.attempt + 1);
  }

  /** The first attempt again, after a success. */
  reset(): Backoff {
    return new Backoff(this.options);
  }
}
