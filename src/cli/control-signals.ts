import type { Logger } from '../observe/logger.js';
import type { CliIO } from './io.js';

export interface ControlActions {
  /** SIGHUP: re-read what the command reads from files and act on it; without one SIGHUP is only logged. */
  readonly reread?: () => void;
  /** SIGUSR2: what one status line says beyond the process figures. */
  readonly status?: () => Record<string, unknown>;
}

/** The `--help` table of the signals a long-running command answers. */
export function describeSignals(sighup: string, stop = 'stop cleanly'): string {
  return [
    '',
    'Signals:',
    `  SIGTERM, SIGINT  ${stop}`,
    `  SIGHUP           ${sighup}`,
    '  SIGUSR2          log one status line',
    '  SIGUSR1          logged and ignored: the Node.js inspector (127.0.0.1:9229) is never opened',
    '',
  ].join('\n');
}

/**
 * The signals a daemon is sent besides stop: by default SIGHUP and SIGUSR2 kill a Node.js process
 * without a word (systemd's `ExecReload=` sends SIGHUP), and SIGUSR1 opens a debugger port. Each gets a
 * harmless action and a log line instead.
 */
export function handleControlSignals(io: CliIO, logger: Logger, actions: ControlActions = {}): void {
  const started = Date.now();
  io.onSignal('SIGHUP', () => {
    if (actions.reread === undefined) {
      logger.info({ signal: 'SIGHUP' }, 'SIGHUP: nothing to re-read; still running');
      return;
    }
    logger.info({ signal: 'SIGHUP' }, 'SIGHUP: re-reading');
    actions.reread();
  });
  io.onSignal('SIGUSR2', () => {
    // Where the RSS goes, so a sidecar's memory can be followed without a debugger: the JS heap in use
    // and reserved, and the memory held outside it (Buffers of etcd responses, sockets).
    const memory = globalThis.process.memoryUsage();
    const process = {
      pid: globalThis.process.pid,
      uptimeS: Math.round((Date.now() - started) / 1000),
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
    };
    logger.info({ signal: 'SIGUSR2', ...process, ...actions.status?.() }, 'status');
  });
  io.onSignal('SIGUSR1', () => {
    logger.warn({ signal: 'SIGUSR1' }, 'SIGUSR1 ignored: the Node.js inspector stays closed');
  });
}
