import { sleep } from '../lib/sleep.js';
import { diagnoseSocketPath } from './socket-diagnosis.js';
import { ApplyError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Reloader } from './types.js';

export interface ProcList {
  readonly masterPid: number;
  /** Reloads the master has done (successful or not); it only grows. */
  readonly reloads: number;
  /** Failed reloads since the last successful one (2.6 resets it on success). */
  readonly failed: number;
  /** PIDs listed under `# workers` (the current generation; older ones are listed as old workers). */
  readonly workers: readonly number[];
}

/** Parses the master CLI's `show proc` (2.6 layout). */
export function parseShowProc(reply: string): ProcList | null {
  const master = /^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]/m.exec(reply);
  if (master?.[1] === undefined || master[2] === undefined || master[3] === undefined) return null;
  const workers: number[] = [];
  let section = '';
  for (const line of reply.split('\n')) {
    if (line.startsWith('# ')) {
      section = line.slice(2).trim();
      continue;
    }
    const m = /^(\d+)\s+worker\s/.exec(line);
    if (m?.[1] !== undefined && section === 'workers') workers.push(Number(m[1]));
  }
  return { masterPid: Number(master[1]), reloads: Number(master[2]), failed: Number(master[3]), workers };
}

export interface ReloadReply {
  readonly success: boolean;
  /** The `[ALERT]` lines of the start-up log, as HAProxy wrote them. */
  readonly alerts: readonly string[];
}

/**
 * Parses the master CLI's answer to `reload`. Since 2.7 it is `Success=1` or `Success=0`, a `--` line,
 * then the start-up log of the attempt; 2.6 answers nothing (or drops the connection), so null means
 * "no verdict, ask `show proc`".
 */
export function parseReloadReply(reply: string): ReloadReply | null {
  const m = /^Success=([01])\n/.exec(reply);
  if (m === null) return null;
  const alerts = reply
    .split('\n')
    .filter((line) => line.startsWith('[ALERT]'))
    .map((line) => line.replace(/\s+/g, ' ').trim());
  return { success: m[1] === '1', alerts };
}

export interface MasterCliReloaderOptions {
  readonly masterSocket: string;
  readonly confirmTimeoutMs: number;
  readonly send: (socket: string, command: string, options: { timeoutMs: number }) => Promise<string>;
  readonly logger: Logger;
  /** How often `show proc` is read while waiting. @default 50 */
  readonly pollMs?: number;
}


/**
 * Reloads through the master CLI and confirms it. Since 2.7 `reload` answers with the verdict and the
 * start-up log: a failure ends the reload at once, with HAProxy's alerts as the reason. In 2.6 `reload`
 * answers nothing and the master is briefly gone while it re-executes, so (on both) success is read
 * from `show proc`: the reload counter moved and
 * a worker PID that was not there before is now the current worker. The counter moving with no new
 * worker is a failed reload (the old worker keeps serving). The master passes the listeners to the new
 * worker itself (`-x sockpair@…`, seen on 2.6.12), so no `-x` is needed.
 */
export function createMasterCliReloader(options: MasterCliReloaderOptions): Reloader {
  const pollMs = options.pollMs ?? 50;
  const showProc = async (): Promise<ProcList | null> => {
    try {
      return parseShowProc(await options.send(options.masterSocket, 'show proc', { timeoutMs: 1000 }));
    } catch {
      return null;
    }
  };
  return {
    async reload(reason: string): Promise<void> {
      const before = await showProc();
      if (before === null) {
        const why = await diagnoseSocketPath(options.masterSocket);
        throw new ApplyError('RELOAD_FAILED', `master CLI ${options.masterSocket} did not answer "show proc" before reload (${reason}): the path ${why}`, {
          retryable: true,
        });
      }
      let verdict: ReloadReply | null = null;
      try {
        verdict = parseReloadReply(await options.send(options.masterSocket, 'reload', { timeoutMs: options.confirmTimeoutMs }));
      } catch (err) {
        // The master re-executes itself on reload and may drop this connection: `show proc` decides.
        options.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'master CLI closed during reload');
      }
      if (verdict?.success === false) {
        const why = verdict.alerts.length > 0 ? verdict.alerts.join('; ') : 'no [ALERT] line in the start-up log';
        throw new ApplyError('RELOAD_FAILED', `HAProxy reload failed: ${why}; the old worker ${before.workers.join(',')} keeps serving`);
      }
      const deadline = Date.now() + options.confirmTimeoutMs;
      let last: ProcList | null = before;
      while (Date.now() < deadline) {
        await sleep(pollMs);
        const now = await showProc();
        if (now === null) continue;
        last = now;
        if (now.reloads <= before.reloads) continue;
        const fresh = now.workers.filter((pid) => !before.workers.includes(pid));
        if (fresh.length > 0) {
          options.logger.debug({ reason, oldWorkers: before.workers, newWorkers: fresh }, 'reload confirmed by the master CLI');
          return;
        }
        throw new ApplyError(
          'RELOAD_FAILED',
          `HAProxy reload failed (master reloads ${now.reloads}, failed ${now.failed}); the old worker ${before.workers.join(',')} keeps serving`,
        );
      }
      throw new ApplyError(
        'RELOAD_FAILED',
        `no new HAProxy worker within ${options.confirmTimeoutMs} ms of reload (master reloads ${last.reloads}, workers ${last.workers.join(',')})`,
        { retryable: true },
      );
    },
  };
}
