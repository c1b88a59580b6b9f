import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { startClustercheck, type RunningClustercheck } from '../../src/galera/clustercheck.js';
import { silentLogger } from '../../src/observe/logger.js';
import { runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startGaleraCluster, type GaleraCluster } from '../helpers/galera-cluster.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { queryOnce } from '../helpers/mysql-client.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { startOrphanReaper } from './orphan-reaper.js';

export interface ServerRow {
  readonly backend: string;
  readonly name: string;
  readonly addr: string;
  /** UP, DOWN, MAINT, DRAIN, NOLB, `UP 1/2`… */
  readonly status: string;
  /** Sessions since start: the counter that proves who got new connections. */
  readonly stot: number;
  /** The server's current weight: in single-writer mode 0 for every server but the writer. */
  readonly weight: number;
  readonly backup: boolean;
}

export interface Proxy {
  readonly dir: TempDir;
  readonly listenPort: number;
  readonly readPort: number | null;
  readonly statsSocket: string;
  haproxy: RunningHaproxy;
  watcher: CliDaemon;
  servers(): Promise<ServerRow[]>;
  /** Stops the watcher (SIGTERM) and starts it again with the same flags; HAProxy keeps running. */
  restartWatcher(): Promise<void>;
  /** Stops the watcher and HAProxy, then starts HAProxy on the file on disk and the watcher again. */
  restartHaproxy(): Promise<void>;
  stop(): Promise<void>;
}

export interface GaleraE2e {
  readonly cluster: GaleraCluster;
  readonly etcd: EtcdServer;
  readonly client: Etcd3;
  readonly prefix: string;
  readonly checks: RunningClustercheck[];
  readonly registers: (CliDaemon | null)[];
  startRegister(index: number): CliDaemon;
  startProxy(options?: { writer?: 'single' | 'multi'; watchArgs?: readonly string[] }): Promise<Proxy>;
  stop(): Promise<void>;
}

export const REGISTER_TTL_SECONDS = 5;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` returns a value, or throws naming `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await sleep(everyMs);
  }
}

/** Parses `show stat` CSV into server rows (FRONTEND/BACKEND rows dropped). */
export function parseServerRows(csv: string): ServerRow[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const rows: ServerRow[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const name = f[col('svname')] ?? '';
    if (name === 'FRONTEND' || name === 'BACKEND' || name === '') continue;
    rows.push({
      backend: f[col('pxname')] ?? '',
      name,
      addr: f[col('addr')] ?? '',
      status: f[col('status')] ?? '',
      stot: Number(f[col('stot')] ?? 0),
      weight: Number(f[col('weight')] ?? 0),
      backup: f[col('bck')] === '1',
    });
  }
  return rows;
}

/**
 * The watcher under test, as operators run it. One function, so the process can be swapped for
 * another build of the daemon without touching the scenarios.
 */
export function startWatcher(args: readonly string[]): CliDaemon {
  return startCliDaemon(['watch', ...args, '--log-level', 'info']);
}

/**
 * Everything of issue 5's end-to-end picture but the proxy: a 3-node cluster on 127.0.0.11-13, one
 * clustercheck per node on <alias>:9200, real etcd, and one `register --when-healthy` process per node.
 */
export async function startGaleraE2e(): Promise<GaleraE2e> {
  const reaperDir = await tempDir('e2e-reaper');
  const reaper = startOrphanReaper(reaperDir.path);
  // Run last (cleanups run in reverse): whatever a failed stop left running is killed here.
  const cleanups: (() => Promise<void>)[] = [() => reaperDir.remove(), () => reaper.stop()];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const cluster = await startGaleraCluster({ onSpawn: (pid) => reaper.track(pid) });
    cleanups.push(() => cluster.stop());
    const first = cluster.nodes[0];
    if (first === undefined) throw new Error('empty cluster');
    await queryOnce(
      { socketPath: first.socket, user: 'root' },
      'CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE IF NOT EXISTS e2e.writes (id BIGINT AUTO_INCREMENT PRIMARY KEY, node VARCHAR(64) NOT NULL, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))',
      { multipleStatements: true },
    );
    const etcd = await startEtcd();
    reaper.track(etcd.pid);
    cleanups.push(() => etcd.destroy());
    const client = etcd.client();
    const checks: RunningClustercheck[] = [];
    for (const node of cluster.nodes) {
      const check = await startClustercheck(
        {
          listenHost: node.ip,
          listenPort: 9200,
          mysql: { socketPath: node.socket, user: 'root' },
          policy: { availableWhenDonor: false, availableWhenReadonly: false },
          queryTimeoutMs: 1_000,
          cacheMs: 300,
        },
        { logger: silentLogger() },
      );
      checks.push(check);
      cleanups.push(() => check.close());
    }
    const prefix = '/components/galera';
    const registers: (CliDaemon | null)[] = cluster.nodes.map(() => null);
    const startRegister = (index: number): CliDaemon => {
      const node = cluster.nodes[index];
      if (node === undefined) throw new Error(`no node ${String(index)}`);
      const daemon = startCliDaemon([
        'register', '--id', node.name, '--ip', node.ip, '--port', String(node.port), '--ttl', String(REGISTER_TTL_SECONDS),
        '--etcd-endpoints', etcd.endpoint, '--prefix', prefix, '--when-healthy', `http://${node.ip}:9200/`,
        '--health-interval', '500',
      ]);
      reaper.track(daemon.child.pid);
      registers[index] = daemon;
      return daemon;
    };
    cluster.nodes.forEach((_, i) => startRegister(i));
    await waitFor('every node registered in etcd', 30_000, async () => {
      const res = await client.getAll().prefix(`${prefix}/`).keys();
      return cluster.nodes.every((n) => res.includes(`${prefix}/${n.name}/ip`)) ? true : undefined;
    });
    cleanups.push(async () => {
      for (const r of registers) await r?.stop('SIGKILL');
    });
    const proxies: Proxy[] = [];
    cleanups.push(async () => {
      for (const p of proxies) await p.stop();
    });

    const startProxy = async (options: { writer?: 'single' | 'multi'; watchArgs?: readonly string[] } = {}): Promise<Proxy> => {
      const dir = await tempDir('e2e-haproxy');
      const listenPort = await freePort();
      const readPort = options.writer === 'single' ? await freePort() : null;
      const statsSocket = join(dir.path, 'admin.sock');
      const configPath = join(dir.path, 'haproxy.cfg');
      const sets = [
        '--etcd-endpoints', etcd.endpoint, '--prefix', prefix,
        // Lets a run compare a template variant against the bundled one on the same scenarios.
        ...(process.env.E2E_TEMPLATE !== undefined ? ['--template', process.env.E2E_TEMPLATE] : []),
        '--set', `listen=127.0.0.1:${String(listenPort)}`,
        '--set', `stats_socket=${statsSocket}`,
        '--set', `server_state_file=${join(dir.path, 'server-state')}`,
        '--set', 'check_inter=500ms', '--set', 'rise=2', '--set', 'fall=2', '--set', 'timeout_connect=2s',
        ...(options.writer === 'single' ? ['--set', 'writer=single', '--set', `read_listen=127.0.0.1:${String(readPort)}`] : []),
      ];
      // Until the proxy is listed for cleanup, a failure here must not leave its directory behind.
      const haproxy = await (async () => {
        const rendered = await runCli(['render', '--check', ...sets]);
        if (rendered.code !== 0) throw new Error(`render failed: ${rendered.stderr}`);
        writeFileSync(configPath, rendered.stdout);
        return startHaproxy({ configPath, dir: dir.path });
      })().catch(async (err: unknown) => {
        await dir.remove();
        throw err;
      });
      reaper.track(haproxy.pid);
      // The master socket's path is the directory's, so a restarted HAProxy keeps it.
      const launchWatcher = (): CliDaemon => startWatcher([
        ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket,
        // Long enough that a cut session is HAProxy's doing (shutdown-sessions), not the drain's end.
        '--drain-timeout', '10s',
        // Flags only `watch` takes (the proxy's id in single-writer mode).
        ...(options.watchArgs ?? []),
      ]);
      const watcher = launchWatcher();
      reaper.track(watcher.child.pid);
      const proxy: Proxy = {
        dir,
        listenPort,
        readPort,
        statsSocket,
        haproxy,
        watcher,
        servers: async () => parseServerRows(await sendSocketCommand(statsSocket, 'show stat', { timeoutMs: 2_000 })),
        restartWatcher: async () => {
          await proxy.watcher.stop('SIGTERM', 5_000);
          proxy.watcher = launchWatcher();
          reaper.track(proxy.watcher.child.pid);
        },
        restartHaproxy: async () => {
          await proxy.watcher.stop('SIGTERM', 5_000);
          await proxy.haproxy.stop();
          proxy.haproxy = await startHaproxy({ configPath, dir: dir.path });
          reaper.track(proxy.haproxy.pid);
          proxy.watcher = launchWatcher();
          reaper.track(proxy.watcher.child.pid);
        },
        stop: async () => {
          await proxy.watcher.stop('SIGTERM', 5_000);
          await proxy.haproxy.stop();
          await dir.remove();
        },
      };
      proxies.push(proxy);
      return proxy;
    };

    return {
      cluster,
      etcd,
      client,
      prefix,
      checks,
      registers,
      startRegister,
      startProxy,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
