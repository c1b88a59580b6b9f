import type { Logger } from '../observe/logger.js';
import type { ServerSpec } from '../plan/types.js';
import { describeError } from '../errors.js';
import { commands, parseShowStat, runCommands, type SocketSend } from './runtime-commands.js';

export interface DrainerOptions {
  readonly send: SocketSend;
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
  /** True when the server is wanted again (re-registered while draining): the drain stops, nothing is deleted. */
  readonly isWanted: (key: string) => boolean;
  /** @default 100 */
  readonly pollMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const keyOf = (s: ServerSpec): string => `${s.backend}/${s.name}`;

/**
 * Removes servers without cutting their clients: `state drain` at once (no new connections), then in
 * the background wait until `scur` is 0 or the drain timeout passes, then `shutdown sessions`,
 * `state maint` and `del server`. The apply never waits for a drain.
 */
export class Drainer {
  private readonly tasks = new Map<string, { cancelled: boolean; done: Promise<void> }>();

  constructor(private readonly options: DrainerOptions) {}

  has(key: string): boolean {
    return this.tasks.has(key);
  }

  keys(): string[] {
    return [...this.tasks.keys()];
  }

  /** Puts the server in drain (awaited: an error here falls back to a reload) and finishes in the background. */
  async start(server: ServerSpec, revision: string): Promise<void> {
    const key = keyOf(server);
    if (this.tasks.has(key)) return;
    await runCommands(this.options.send, [commands.setState(server, 'drain')]);
    const task = { cancelled: false, done: Promise.resolve() };
    task.done = this.finish(server, task, revision).finally(() => {
      if (this.tasks.get(key) === task) this.tasks.delete(key);
    });
    this.tasks.set(key, task);
  }

  /** Stops a drain without deleting (the server is wanted again, or a reload replaced the worker). */
  cancel(key: string): void {
    const task = this.tasks.get(key);
    if (task) task.cancelled = true;
    this.tasks.delete(key);
  }

  cancelAll(): void {
    for (const key of this.keys()) this.cancel(key);
  }

  /** Resolves when every drain running now has finished. */
  async settle(): Promise<void> {
    await Promise.all([...this.tasks.values()].map((t) => t.done));
  }

  private async sessions(key: string): Promise<number | null> {
    const rows = parseShowStat(await this.options.send(commands.showStatServers().text));
    return rows.get(key)?.scur ?? null;
  }

  private async finish(server: ServerSpec, task: { cancelled: boolean }, revision: string): Promise<void> {
    const key = keyOf(server);
    const log = this.options.logger.child({ server: key, revision });
    const deadline = Date.now() + this.options.drainTimeoutMs;
    try {
      for (;;) {
        if (task.cancelled || this.options.isWanted(key)) return;
        const scur = await this.sessions(key);
        if (scur === null) return; // already gone (deleted by hand, or a reload dropped it)
        if (scur === 0) break;
        if (Date.now() >= deadline) {
          log.info({ sessions: scur, drainTimeoutMs: this.options.drainTimeoutMs }, 'drain timeout: closing remaining sessions');
          break;
        }
        await sleep(this.options.pollMs ?? 100);
      }
      if (task.cancelled || this.options.isWanted(key)) return;
      await runCommands(this.options.send, [commands.setState(server, 'maint'), commands.shutdownSessions(server)]);
      // Sessions close asynchronously after shutdown; `del server` refuses while any is attached.
      for (let attempt = 0; ; attempt += 1) {
        try {
          await runCommands(this.options.send, [commands.delServer(server)]);
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await sleep(50);
        }
      }
      log.info('server drained and deleted');
    } catch (err) {
      log.warn({ err: describeError(err) }, 'drain did not finish; the next reconcile retries');
    }
  }
}
