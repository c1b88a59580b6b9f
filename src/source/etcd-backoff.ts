/**
 * Exponential backoff with full jitter: each delay is uniform in [initial/2, min(max, initial·2^n)].
 * Jitter keeps a fleet of watchers from reconnecting in lockstep after an etcd restart. The object is
 * immutable and shaped like cockatiel's `IBackoff`, so etcd3's watch manager can use it directly.
 */
export class JitterBackoff {
  readonly duration: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly attempt = 0,
    private readonly random: () => number = Math.random,
  ) {
    const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
    const floor = Math.min(ceiling, initialMs / 2);
    this.duration = Math.round(floor + (ceiling - floor) * random());
  }

  next(_context?: unknown): JitterBackoff {
    // Stop doubling once past the cap so the exponent cannot overflow to Infinity.
    const attempt = this.initialMs * 2 ** this.attempt >= this.maxMs ? this.attempt : this.attempt + 1;
    return new JitterBackoff(this.initialMs, this.maxMs, attempt, this.random);
  }
}
