import { describeError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { logDiagnostic, type LiveConfig } from './live-config.js';

/**
 * Checks and writes haproxy.cfg behind the runtime: a server-only change reaches HAProxy through the
 * Runtime API in a few ms, and the file (whose `haproxy -c` takes ~50 ms) follows here without holding up
 * the next change. Only the latest text is written; texts superseded while a check runs are skipped.
 */
export class FileLane {
  private pending: string | null = null;
  private inFlight: string | null = null;
  private running: Promise<void> | null = null;
  private rejected: string | null = null;

  constructor(
    private readonly live: LiveConfig,
    private readonly logger: Logger,
    /** Called when a submitted text failed its check or could not be written; the caller re-plans. */
    private readonly onRejected: (text: string) => void,
  ) {}

  /** The text the file is about to hold, or null when nothing is queued (then the file is current). */
  latest(): string | null {
    return this.pending ?? this.inFlight;
  }

  /** True for the last text that failed: it must take the checked-file way, not the runtime-first one. */
  isRejected(text: string): boolean {
    return this.rejected === text;
  }

  submit(text: string): void {
    this.pending = text;
    this.rejected = null;
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Resolves once everything submitted so far is on disk (or rejected). */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending !== null) {
      const text = this.pending;
      this.pending = null;
      this.inFlight = text;
      try {
        const check = await this.live.check(text);
        if (check.ok) {
          await this.live.commit(check);
        } else {
          for (const d of check.diagnostics) logDiagnostic(this.logger, d);
          this.reject(text, `haproxy -c rejected it: ${check.summary}`);
        }
      } catch (err) {
        this.reject(text, describeError(err));
      } finally {
        this.inFlight = null;
      }
    }
  }

  private reject(text: string, reason: string): void {
    if (this.pending !== null) return;
    this.rejected = text;
    this.logger.error({ config: this.live.path, reason }, 'the file could not follow a runtime change; re-planning through the checked file');
    this.onRejected(text);
  }
}
