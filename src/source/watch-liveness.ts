/** What the source can say about its watch at one moment. */
export interface WatchState {
  /** etcd acknowledged the watch (a create response) and has not dropped or cancelled it since. */
  readonly attached: boolean;
  /** Epoch ms when the watch was last known attached and up to date (an event, a progress
   * notification, or a read of etcd that found nothing the watch still owed), or null. */
  readonly verifiedAt: number | null;
}

/**
 * Tells a live watch from one that is silently not attached or not delivering, from the outside:
 * unary reads that keep succeeding prove etcd answers, not that the watch does. Each successful read
 * says whether etcd holds changes the mirror has not applied (`owed`); a watch that stays detached, or
 * that owes changes and delivers nothing, for `graceMs` while etcd answers is stalled. Pure (a clock
 * is injected), so the rules are unit-tested without etcd.
 */
export class WatchLiveness {
  private attached = false;
  private verifiedAt: number | null = null;
  private lastDeliveryAt = Number.NEGATIVE_INFINITY;
  private detachedSince: number | null = null;
  private owedSince: number | null = null;

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  state(): WatchState {
    return { attached: this.attached, verifiedAt: this.verifiedAt };
  }

  /** A new watch was requested, or etcd dropped it: it is not attached until etcd says so. */
  detach(): void {
    this.attached = false;
    // Counted from the next answer of etcd: while etcd is down, etcd3 is still backing off.
    this.detachedSince = null;
    this.owedSince = null;
  }

  attach(): void {
    this.attached = true;
    this.detachedSince = null;
    this.verifiedAt = this.now();
  }

  /** The watch delivered events or a progress notification. */
  delivered(): void {
    const now = this.now();
    this.lastDeliveryAt = now;
    if (this.attached) this.verifiedAt = now;
  }

  /**
   * etcd answered a read; `owed` says whether it holds changes the mirror lacks. Returns why the
   * watch counts as stalled, or null while it may still be catching up.
   */
  observe(owed: boolean): string | null {
    const now = this.now();
    if (!this.attached) {
      this.detachedSince ??= now;
      const detachedMs = now - this.detachedSince;
      return detachedMs >= this.graceMs ? `etcd answers but the watch has not been attached for ${detachedMs} ms` : null;
    }
    if (!owed) {
      this.owedSince = null;
      this.verifiedAt = now;
      return null;
    }
    // A delivery since the debt was first seen means the watch is moving; the new debt is newer writes.
    if (this.owedSince === null || this.lastDeliveryAt > this.owedSince) {
      this.owedSince = now;
      return null;
    }
    const owedMs = now - this.owedSince;
    return owedMs >= this.graceMs ? `etcd holds changes the watch has not delivered for ${owedMs} ms` : null;
  }
}
