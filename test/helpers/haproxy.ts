import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';

export interface StartHaproxyOptions {
  configPath: string;
  /** Directory for the master socket and the pid file. */
  dir: string;
  /** @default `haproxy` from PATH, else /usr/sbin/haproxy */
  haproxyBin?: string;
  /** How long to wait for the master CLI to answer. @default 10000 */
  startTimeoutMs?: number;
}

export interface RunningHaproxy {
  readonly masterSocket: string;
  readonly pidFile: string;
  /** The master process. */
  readonly pid: number;
  /** stdout+stderr so far, for failure messages. */
  output(): string;
  /** True once the master process has exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL if the master has not exited within 5 s. Safe to call twice. */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

const INSTALL_HINT = 'HAProxy 2.6+ is required for this test: apt-get install haproxy';

/** Resolves the haproxy binary or throws an error telling how to install it. */
export function resolveHaproxyBin(haproxyBin?: string): string {
  const candidates = haproxyBin !== undefined ? [haproxyBin] : ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy'];
  for (const bin of candidates) {
    const probe = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (probe.error === undefined && probe.status === 0) return bin;
  }
  throw new Error(`${INSTALL_HINT} (tried ${candidates.join(', ')})`);
}

export interface HaproxyVersion {
  readonly major: number;
  readonly minor: number;
  /** The whole version, e.g. `3.0.11-1+deb13u4`. */
  readonly version: string;
  /** The first line of `haproxy -v`. */
  readonly line: string;
}

/** The version of the haproxy the tests run (the one on PATH unless given), from `haproxy -v`. */
export function readHaproxyVersion(haproxyBin?: string): HaproxyVersion {
  const bin = resolveHaproxyBin(haproxyBin);
  const line = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const m = /version ((\d+)\.(\d+)\S*)/.exec(line);
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) throw new Error(`cannot read the version of ${bin} from ${JSON.stringify(line)}`);
  return { major: Number(m[2]), minor: Number(m[3]), version: m[1], line };
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts HAProxy in master-worker mode (`-W -S <dir>/master.sock`) in the foreground and waits until
 * the master CLI lists a worker, so callers can talk to the stats socket right away.
 */
export async function startHaproxy(options: StartHaproxyOptions): Promise<RunningHaproxy> {
  const bin = resolveHaproxyBin(options.haproxyBin);
  const masterSocket = join(options.dir, 'master.sock');
  const pidFile = join(options.dir, 'haproxy.pid');
  const child = spawn(bin, ['-W', '-S', `${masterSocket},mode,600`, '-f', options.configPath, '-p', pidFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  let hasExited = false;
  child.on('exit', () => (hasExited = true));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = async (): Promise<void> => {
    if (hasExited) return;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, 5000))) {
      child.kill('SIGKILL');
      await waitForExit(child, 5000);
    }
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  let lastError = '';
  for (;;) {
    if (hasExited) {
      throw new Error(`haproxy exited during start-up (code ${String(child.exitCode)}): ${output.trim()}`);
    }
    const failed = await Promise.race([spawnError, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    if (failed !== null) throw new Error(`${INSTALL_HINT}: ${failed.message}`);
    if (existsSync(masterSocket)) {
      try {
        const reply = await sendSocketCommand(masterSocket, 'show proc', { timeoutMs: 1000 });
        if (/^\d+\s+worker\s/m.test(reply)) break;
        lastError = reply;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy master CLI ${masterSocket} did not list a worker in time (${lastError}); output: ${output.trim()}`);
    }
  }

  if (child.pid === undefined) throw new Error(`${INSTALL_HINT}: no pid for ${bin}`);
  return {
    masterSocket,
    pidFile,
    pid: child.pid,
    output: () => output,
    exited: () => hasExited,
    stop,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/**
 * A minimal master-worker config: an admin stats socket and one `listen galera` whose servers are
 * checked every 10 s (`rise 2 fall 2`), for tests and benches that add servers to it at runtime.
 */
export function dynamicBackendConfig(options: { statsSocket: string; listen: string; servers: readonly string[]; stateFile?: string }): string {
  return `global
  master-worker
  stats socket ${options.statsSocket} mode 600 level admin expose-fd listeners
${options.stateFile === undefined ? '' : `  server-state-file ${options.stateFile}\n`}
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s

listen galera
  bind ${options.listen}
  balance leastconn
  default-server check inter 10s rise 2 fall 2
${options.servers.map((line) => `  ${line}`).join('\n')}
`;
}
