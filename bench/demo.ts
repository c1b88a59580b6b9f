/**
 * Live demo, on this machine alone: a throwaway etcd and HAProxy on loopback, simulated Galera nodes on
 * 127.0.0.21–24 (a "MySQL" port 3306 that names itself, a clustercheck on 9200), and the watcher. Nodes
 * register and leave through etcd; after each step the demo prints what HAProxy's Runtime API reports.
 * Ends by itself within a minute.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startEtcd } from '../test/helpers/etcd.js';
import { readHaproxyVersion, startHaproxy } from '../test/helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../test/helpers/fake-galera.js';
import { freePort, tempDir } from '../test/helpers/ports.js';
import { runtimeServers, showProc } from '../test/helpers/runtime.js';
import { inMaintenance, isDraining } from '../src/plan/admin-state.js';

const PREFIX = '/components/galera';
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const started = Date.now();
const stamp = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (text: string): void => console.log(`${stamp()}  ${text}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ServerRow {
  name: string;
  addr: string;
  state: string;
}

async function runtimeRows(statsSocket: string): Promise<ServerRow[]> {
  return (await runtimeServers(statsSocket, 'galera')).map((s) => {
    const op = ['DOWN', 'STARTING', 'UP', 'STOPPING'][s.operState] ?? String(s.operState);
    const state = inMaintenance(s) ? 'MAINT' : isDraining(s) ? `DRAIN/${op}` : op;
    return { name: s.name, addr: `${s.address}:${s.port}`, state };
  });
}

async function showRuntime(statsSocket: string, title: string): Promise<void> {
  const rows = await runtimeRows(statsSocket);
  say(`HAProxy runtime after "${title}": ${rows.length} server(s)`);
  for (const r of rows) console.log(`          ${r.name.padEnd(28)} ${r.addr.padEnd(20)} ${r.state}`);
}

/** Waits until HAProxy's runtime satisfies `ok`, and reports how long it took. */
async function waitFor(statsSocket: string, what: string, ok: (rows: ServerRow[]) => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (ok(await runtimeRows(statsSocket).catch(() => []))) {
      say(`HAProxy followed: ${what} (${Date.now() - t0} ms)`);
      return;
    }
    await sleep(10);
  }
  throw new Error(`HAProxy did not follow within ${timeoutMs} ms: ${what}`);
}

/** Opens `count` client connections through HAProxy and counts which node greeted each. */
async function sampleClients(port: number, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const greeting = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.setTimeout(2000, () => socket.destroy());
      socket.once('data', (d) => {
        resolve(d.toString().trim());
        socket.destroy();
      });
      socket.once('error', () => resolve('failed'));
      socket.once('close', () => resolve('failed'));
    });
    seen.set(greeting, (seen.get(greeting) ?? 0) + 1);
  }
  return seen;
}

function pipeWatcherLog(child: ChildProcess): void {
  if (!child.stderr) return;
  createInterface({ input: child.stderr }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const { msg, level, revision, node, server, outcome, durationMs, reason } = entry;
      const extra = [node && `node=${String(node)}`, server && `server=${String(server)}`, outcome && `outcome=${String(outcome)}`, durationMs !== undefined && `${String(durationMs)}ms`, revision && `rev=${String(revision)}`, reason && `(${String(reason)})`]
        .filter(Boolean)
        .join(' ');
      console.log(`          watcher ${String(level).padEnd(5)} ${String(msg)} ${extra}`);
    } catch {
      console.log(`          watcher ${line}`);
    }
  });
}

async function main(): Promise<void> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const hardStop = setTimeout(() => {
    console.error('demo: taking longer than 90 s, stopping');
    process.exit(1);
  }, 90_000);
  try {
    const dir = await tempDir('galera-haproxy-demo-');
    cleanups.push(() => dir.remove());
    say(`working in ${dir.path}`);

    const etcd = await startEtcd();
    cleanups.push(() => etcd.destroy());
    const client = etcd.client();
    // The versions come from what runs (PATH decides: Debian 12's pair, or .ci/setup-trixie's wrappers).
    say(`etcd ${(await client.maintenance.status()).version} on ${etcd.endpoint}`);

    const nodes: FakeGaleraNode[] = [];
    for (const ip of ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24']) {
      const node = await startFakeGaleraNode({ ip });
      nodes.push(node);
      cleanups.push(() => node.close());
    }
    say(`simulated Galera nodes on ${nodes.map((n) => n.ip).join(', ')} (3306 + clustercheck on 9200)`);

    const listenPort = await freePort();
    const statsSocket = join(dir.path, 'admin.sock');
    const configPath = join(dir.path, 'haproxy.cfg');
    const common = [
      '--etcd-endpoints', etcd.endpoint,
      '--prefix', PREFIX,
      '--set', `listen=127.0.0.1:${listenPort}`,
      '--set', `stats_socket=${statsSocket}`,
      '--set', `server_state_file=${join(dir.path, 'server-state')}`,
      '--set', 'check_inter=500ms',
      '--set', 'rise=1',
    ];

    // The seed's layout: one directory per node with ip, port and host keys.
    await client.put(`${PREFIX}/node-a/ip`).value('127.0.0.21');
    await client.put(`${PREFIX}/node-a/port`).value('3306');
    await client.put(`${PREFIX}/node-a/host`).value('galera-a');
    say('registered node-a (seed layout: /components/galera/node-a/{ip,port,host}); HAProxy names it galera-a, its host');

    const rendered = await new Promise<string>((resolve, reject) => {
      const render = spawn(process.execPath, [CLI, 'render', '--check', ...common], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      render.stdout.on('data', (d: Buffer) => (out += d.toString()));
      render.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`render exited ${code}`))));
    });
    await writeFile(configPath, rendered);
    say(`galera-haproxy render --check wrote the first haproxy.cfg (${rendered.split('\n').length} lines)`);

    const haproxy = await startHaproxy({ configPath, dir: dir.path });
    cleanups.push(() => haproxy.stop());
    say(`HAProxy ${readHaproxyVersion().version} master-worker, clients on 127.0.0.1:${listenPort}`);

    const watcher = spawn(process.execPath, [CLI, 'watch', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--drain-timeout', '2s'], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    pipeWatcherLog(watcher);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (watcher.exitCode !== null) return resolve();
          watcher.once('exit', () => resolve());
          watcher.kill('SIGTERM');
        }),
    );
    await sleep(1000);
    await showRuntime(statsSocket, 'start');

    say('--- node-b registers (flat layout: key = "ip:port")');
    await client.put(`${PREFIX}/node-b`).value('127.0.0.22:3306');
    await waitFor(statsSocket, 'node-b present', (rows) => rows.some((r) => r.addr.startsWith('127.0.0.22')));

    say('--- node-c registers (JSON layout, weight 2)');
    await client.put(`${PREFIX}/node-c`).value(JSON.stringify({ ip: '127.0.0.23', port: 3306, weight: 2 }));
    await waitFor(statsSocket, 'node-c present', (rows) => rows.some((r) => r.addr.startsWith('127.0.0.23')));
    await waitFor(statsSocket, 'all three UP after their checks pass', (rows) => rows.filter((r) => r.state === 'UP').length === 3);
    await showRuntime(statsSocket, 'three nodes');

    say('--- a hostile value tries to inject a server line; it is rejected and never rendered');
    await client.put(`${PREFIX}/evil`).value('127.0.0.24:3306\n  server evil 127.0.0.99:3306');
    await sleep(500);

    say('--- node-c becomes a donor: its clustercheck answers 503');
    nodes[2]?.setHealthy(false);
    await waitFor(statsSocket, 'node-c marked DOWN by its health check', (rows) => rows.some((r) => r.addr.startsWith('127.0.0.23') && r.state.includes('DOWN')));
    const sample = await sampleClients(listenPort, 30);
    say(`30 new client connections went to: ${[...sample].map(([k, v]) => `${k.replace('fake-galera ', '')} ×${v}`).join(', ')}`);
    nodes[2]?.setHealthy(true);

    say('--- node-a leaves (its keys are deleted): drained, then removed');
    await client.delete().prefix(`${PREFIX}/node-a/`);
    await waitFor(statsSocket, 'node-a gone', (rows) => !rows.some((r) => r.addr.startsWith('127.0.0.21')));

    say('--- every key vanishes at once: the guard keeps the last servers (--min-servers 1)');
    await client.delete().prefix(`${PREFIX}/`);
    await sleep(800);
    await showRuntime(statsSocket, 'prefix emptied');

    say('--- node-d registers');
    await client.put(`${PREFIX}/node-d`).value('127.0.0.24');
    await waitFor(statsSocket, 'only node-d left', (rows) => rows.length === 1 && rows[0]?.addr.startsWith('127.0.0.24') === true);
    await waitFor(statsSocket, 'node-d UP once its check passed', (rows) => rows[0]?.state === 'UP');
    await showRuntime(statsSocket, 'final');
    const last = await sampleClients(listenPort, 10);
    say(`10 new client connections went to: ${[...last].map(([k, v]) => `${k.replace('fake-galera ', '')} ×${v}`).join(', ')}`);
    say(`HAProxy worker reloads during the demo: ${(await showProc(haproxy.masterSocket)).reloads}`);
    say('demo finished');
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    clearTimeout(hardStop);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
