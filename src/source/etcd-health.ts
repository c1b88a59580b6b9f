import type { Logger } from '../observe/logger.js';
import type { SourceHealth } from './types.js';
import type { WatchState } from './watch-liveness.js';

/** Listeners hear about answers at most this often (plus every transition), for the last-heard gauge. */
const HEARD_REPORT_MS = 1000;

/**
 * What the source knows about etcd's reachability: when it last answered, whether the watch is up,
 * the last error. Logs once when etcd goes silent for longer than `staleAfterMs` and once when it
 * answers again, so a stall is never silent and a long outage does not flood the log.
 */
export class HealthTracker {
  private connected = false;
  private lastHeardAt: number | null = null;
  private lastError: string | null = null;
  private stale = false;
  private reportedAt = Number.NEGATIVE_INFINITY;
  /** When etcd was last lost (connected, then not, or gone silent), until it answers again. */
  private downSince: number | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly staleAfterMs: number,
    private readonly revision: () => string | null,
    private readonly onChange: (health: SourceHealth) => void,
    private readonly now: () => number = Date.now,
    private readonly watch: () => WatchState = () => ({ attached: false, verifiedAt: null }),
  ) {}

  get error(): string | null {
    return this.lastError;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  current(): SourceHealth {
    return {
      connected: this.connected,
      lastHeardAt: this.lastHeardAt,
      revision: this.revision(),
      lastError: this.lastError,
      watch: this.watch(),
    };
  }

  /** etcd answered something: a response, a watch event or a progress notification. */
  heard(): void {
    const now = this.now();
    if (this.stale || this.downSince !== null) {
      this.stale = false;
      const downMs = this.downSince === null ? null : now - this.downSince;
      this.downSince = null;
      this.logger.info({ downMs, silentMs: this.lastHeardAt === null ? null : now - this.lastHeardAt }, 'etcd answering again');
    }
    this.lastHeardAt = now;
    if (now - this.reportedAt >= HEARD_REPORT_MS) this.report();
  }

  /** Reports only transitions; `error` undefined keeps the last error while disconnected. */
  set(connected: boolean, error?: string | null): void {
    const nextError = error === undefined ? (connected ? null : this.lastError) : error;
    if (connected === this.connected && nextError === this.lastError) return;
    if (this.connected && !connected) this.downSince ??= this.now();
    this.connected = connected;
    this.lastError = nextError;
    this.report();
  }

  checkStale(): void {
    const silentMs = this.lastHeardAt === null ? null : this.now() - this.lastHeardAt;
    if (this.stale || (silentMs !== null && silentMs <= this.staleAfterMs)) return;
    this.stale = true;
    this.downSince ??= this.lastHeardAt ?? this.now();
    this.logger.warn(
      { silentMs, lastHeardAt: this.lastHeardAt, revision: this.revision(), error: this.lastError },
      'etcd silent; serving the last known state',
    );
    this.report();
  }

  private report(): void {
    this.reportedAt = this.now();
    this.onChange(this.current());
  }
}
