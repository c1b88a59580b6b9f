import type { Logger } from '../observe/logger.js';
import type { ServerSpec } from '../plan/types.js';
import { describeError } from '../errors.js';
import { sleep } from '../lib/sleep.js';
import { commands, parseShowStat, runCommands, type SocketSend } from './runtime-commands.js';

export interface DrainerOptions {
  readonly send: SocketSend;
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
  /** True when the server is wanted again (re-registered while draining): the drain stops, nothing is deleted. */
  readonly isWanted: (key: string) => boolean;
  /** @default 100 */
  readonly pollMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Drain {
  readonly server: ServerSpec;
  readonly revision: string;
  readonly startedAt: number;
  deadline: number;
  /** Set once the drain deletes the server: the poll leaves it alone. */
  finishing: boolean;
  readonly done: Promise<void>;
  readonly resolve: () => void;
}

const keyOf = (s: ServerSpec): string => `${s.backend}/${s.name}`;

/**
 * Removes servers without cutting their clients: the applier puts a server in `state drain` (no new
 * connections, in its batch) and hands it here; in the background this waits until `scur` is 0 or the
 * drain timeout passes, then sends `shutdown sessions`, `state maint` and `del server`. The apply never waits for a drain. One `show stat` per tick serves
 * every drain: with hundreds of drains against thousands of servers, one poll per drain would keep
 * the stats socket busy answering the same table.
 */
export class Drainer {
  private readonly drains = new Map<string, Drain>();
  private polling: Promise<void> | null = null;
  private wake = new AbortController();

  constructor(private readonly options: DrainerOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  has(key: string): boolean {
    return this.drains.has(key);
  }

  keys(): string[] {
    return [...this.drains.keys()];
  }

  /** Follows a server already put in drain (`state drain` sent in a batch) until it can be deleted. */
  track(server: ServerSpec, revision: string): void {
    const key = keyOf(server);
    if (this.drains.has(key)) return;
    let resolve = (): void => undefined;
    const done = new Promise<void>((r) => (resolve = r));
    const startedAt = this.now();
    this.drains.set(key, { server, revision, startedAt, deadline: startedAt + this.options.drainTimeoutMs, finishing: false, done, resolve });
    this.ensurePolling();
  }

  private ensurePolling(): void {
    this.polling ??= this.poll().finally(() => {
      this.polling = null;
      // A drain started while the loop was on its way out.
      if (this.drains.size > 0) this.ensurePolling();
    });
  }

  /** Stops a drain without deleting (the server is wanted again, or a reload replaced the worker). */
  cancel(key: string): void {
    const drain = this.drains.get(key);
    this.drains.delete(key);
    drain?.resolve();
  }

  cancelAll(): void {
    for (const key of this.keys()) this.cancel(key);
  }

  /** Ends every drain at the next tick, as if its timeout had passed: sessions are shut, servers deleted. */
  hurry(): void {
    const now = this.now();
    for (const drain of this.drains.values()) drain.deadline = Math.min(drain.deadline, now);
    this.wake.abort();
  }

  /** Resolves when every drain running now has finished. */
  async settle(): Promise<void> {
    await Promise.all([...this.drains.values()].map((d) => d.done));
  }

  private async poll(): Promise<void> {
    while (this.drains.size > 0) {
      for (const key of this.keys()) if (this.options.isWanted(key)) this.cancel(key);
      let sessions: ReadonlyMap<string, { scur: number }> | null = null;
      if (this.drains.size > 0) {
        try {
          sessions = parseShowStat(await this.options.send(commands.showStatServers().text));
        } catch (err) {
          this.options.logger.warn({ draining: this.drains.size, err: describeError(err) }, 'cannot read sessions of draining servers; polling again');
        }
      }
      for (const [key, drain] of [...this.drains]) {
        if (drain.finishing || this.drains.get(key) !== drain) continue;
        // Without a reading, only drains past their timeout go ahead: their sessions get shut anyway.
        const scur = sessions === null ? null : (sessions.get(key)?.scur ?? 'gone');
        if (scur === 'gone') {
          // Deleted by hand, or a reload dropped it.
          this.drains.delete(key);
          drain.resolve();
        } else if (scur === 0 || this.now() >= drain.deadline) {
          drain.finishing = true;
          await this.finish(drain, scur);
        }
      }
      if (this.drains.size === 0) break;
      if (this.wake.signal.aborted) this.wake = new AbortController();
      else await sleep(this.options.pollMs ?? 100, this.wake.signal);
    }
  }

  private async finish(drain: Drain, scur: number | null): Promise<void> {
    const key = keyOf(drain.server);
    const log = this.options.logger.child({ server: key, revision: drain.revision });
    const current = (): boolean => this.drains.get(key) === drain && !this.options.isWanted(key);
    try {
      if (!current()) return;
      if (scur !== 0) log.info({ sessions: scur, drainTimeoutMs: this.options.drainTimeoutMs }, 'drain timeout: closing remaining sessions');
      await runCommands(this.options.send, [commands.setState(drain.server, 'maint'), commands.shutdownSessions(drain.server)]);
      // Sessions close asynchronously after shutdown; `del server` refuses while any is attached.
      for (let attempt = 0; ; attempt += 1) {
        try {
          await runCommands(this.options.send, [commands.delServer(drain.server)]);
          break;
        } catch (err) {
          if (attempt >= 20 || !current()) throw err;
          await sleep(50);
        }
      }
      log.info({ drainedMs: this.now() - drain.startedAt, sessionsShut: scur !== 0 }, 'server drained and deleted');
    } catch (err) {
      log.warn({ err: describeError(err) }, 'drain did not finish; the next reconcile retries');
    } finally {
      if (this.drains.get(key) === drain) this.drains.delete(key);
      drain.resolve();
    }
  }
}
