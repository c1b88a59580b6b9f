/**
 * Lets a repeated warning through once, then at most one summary per `windowMs` with how many times
 * it came back meanwhile: etcd3 retries a dead watch every few ms, and each retry is the same news.
 */
export class RepeatLimiter {
  private readonly seen = new Map<string, { loggedAt: number; repeats: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to log this occurrence of `key`, and how many were held back since the last one logged. */
  admit(key: string): { log: boolean; repeats: number } {
    const now = this.now();
    const entry = this.seen.get(key);
    if (entry === undefined) {
      this.seen.set(key, { loggedAt: now, repeats: 0 });
      return { log: true, repeats: 0 };
    }
    if (now - entry.loggedAt < this.windowMs) {
      entry.repeats += 1;
      return { log: false, repeats: entry.repeats };
    }
    const repeats = entry.repeats;
    this.seen.set(key, { loggedAt: now, repeats: 0 });
    return { log: true, repeats };
  }

  /** The condition cleared: the next occurrence is news again. */
  reset(): void {
    this.seen.clear();
  }
}
