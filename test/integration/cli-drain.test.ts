import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { AdminState } from '../../src/plan/admin-state.js';
import type { StatusReport } from '../../src/observe/status-report.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { runtimeServers, showProc, waitFor } from '../helpers/runtime.js';

// Drain before a node leaves, `drain`/`undrain` by hand, and `status`: the real CLI (`watch`, `register`,
// `drain`, `undrain`, `status`) against a real etcd and HAProxy. Simulated Galera nodes on 127.0.0.221–223
// hold their client sessions open; .229 is registered but nothing listens there (never reached). The
// drift repair is off, so a drain that survives a reload is the server-state file's doing.
const PREFIX = '/components/galera';
const IPS = ['127.0.0.221', '127.0.0.222', '127.0.0.223'] as const;
const GHOST = '127.0.0.229';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon;
const registers = new Map<string, CliDaemon>();
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let configPath: string;
let templatePath: string;
let bundled: string;
let listenPort: number;
let statusUrl: string;
let etcdFlags: string[];

const node = (i: number): FakeGaleraNode => nodes[i] ?? (() => { throw new Error(`no node ${i}`); })();
const server = async (name: string) => (await runtimeServers(statsSocket, 'galera')).find((s) => s.name === name);
const drained = async (name: string): Promise<boolean> => (((await server(name))?.adminState ?? 0) & AdminState.FDRAIN) !== 0;
const reloads = async (): Promise<number> => (await showProc(haproxy.masterSocket)).reloads;
const keysOf = async (id: string): Promise<string[]> => (await client.getAll().prefix(`${PREFIX}/${id}`).keys()).sort();

function startRegister(id: string, ip: string, extra: string[] = []): CliDaemon {
  const daemon = startCliDaemon(['register', '--id', id, '--ip', ip, '--host', id, '--ttl', '30', ...etcdFlags, ...extra]);
  registers.set(id, daemon);
  return daemon;
}

/** Opens a session through HAProxy; resolves with the socket and the greeting (which node took it). */
function openSession(): Promise<{ socket: Socket; greeting: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: listenPort });
    socket.once('error', reject);
    socket.once('data', (d: Buffer) => resolve({ socket, greeting: d.toString() }));
    socket.once('close', () => reject(new Error('closed without a greeting')));
  });
}

/** Opens sessions until one lands on `holder`, keeps that one and closes the others. */
async function holdSessionOn(holder: FakeGaleraNode): Promise<Socket> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const { socket, greeting } = await openSession();
    if (greeting === holder.greeting) return socket;
    socket.destroy();
  }
  throw new Error(`no session landed on ${holder.ip}`);
}

/** `n` short sessions; returns how many reached each node. */
async function spread(n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i += 1) {
    const { socket, greeting } = await openSession();
    seen.set(greeting, (seen.get(greeting) ?? 0) + 1);
    socket.destroy();
  }
  return seen;
}

const status = async (extra: string[] = []): Promise<{ code: number | null; report: StatusReport; stderr: string }> => {
  const r = await runCli(['status', '--json', ...etcdFlags, '--set', `stats_socket=${statsSocket}`, ...extra], { timeoutMs: 20_000 });
  return { code: r.code, report: JSON.parse(r.stdout) as StatusReport, stderr: r.stderr };
};

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-drain-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of IPS) nodes.push(await startFakeGaleraNode({ ip, holdConnections: true }));
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'custom.cfg.njk');
  bundled = await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8');
  await writeFile(templatePath, bundled);
  listenPort = await freePort();
  etcdFlags = ['--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX];
  const common = [
    ...etcdFlags, '--template', templatePath,
    '--set', `listen=127.0.0.1:${listenPort}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`, '--set', 'check_inter=200ms',
  ];
  startRegister('db1', IPS[0], ['--drain-grace', '4s']);
  startRegister('db2', IPS[1]);
  startRegister('db3', IPS[2], ['--layout', 'flat']);
  await waitFor('three nodes registered', async () => (await client.getAll().prefix(`${PREFIX}/`).keys()).length === 7, 30_000);
  const first = await runCli(['render', ...common]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  const statusPort = await freePort();
  statusUrl = `http://127.0.0.1:${statusPort}/status`;
  watcher = startCliDaemon(['watch', ...common, '--status-listen', `127.0.0.1:${statusPort}`, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--drain-timeout', '60s', '--repair-interval', '0', '--log-level', 'debug']);
  await watcher.waitForLog((e) => e.msg === 'watching etcd');
  await waitFor('every server UP', async () => (await runtimeServers(statsSocket, 'galera')).filter((s) => s.operState === 2).length === 3, 20_000);
});

afterAll(async () => {
  for (const r of registers.values()) await r.stop('SIGKILL');
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('drain before a node leaves', () => {
  it('SIGTERM a register: DRAIN before its keys vanish, the held session finishes, no new session reaches it, no reload', async () => {
    const holder = node(0);
    const held = await holdSessionOn(holder);
    let cut = false;
    held.on('close', () => (cut = true));
    const reloadsBefore = await reloads();
    const accepted = holder.connections();
    const register = registers.get('db1')!;
    const exited = new Promise<number | null>((resolve) => register.child.once('exit', (code) => resolve(code)));
    register.child.kill('SIGTERM');

    // In DRAIN in HAProxy's runtime while the node's keys are still in etcd.
    await waitFor('db1 in DRAIN', () => drained('db1'), 3_000, 20);
    expect(await keysOf('db1')).toEqual([`${PREFIX}/db1/draining`, `${PREFIX}/db1/host`, `${PREFIX}/db1/ip`, `${PREFIX}/db1/port`]);
    // The file follows the runtime (its `haproxy -c` runs behind the runtime op), marking the line.
    const line = async (): Promise<string> => (await readFile(configPath, 'utf8')).split('\n').find((l) => l.includes(`${IPS[0]}:3306`)) ?? '';
    await waitFor('haproxy.cfg marks db1 draining', async () => (await line()).endsWith('# draining'), 3_000);
    await watcher.waitForLog((e) => e.msg === 'node draining: no new clients, open sessions finish' && e.node === 'db1');

    // New sessions go elsewhere; the held one stays open.
    const seen = await spread(12);
    expect(seen.get(holder.greeting)).toBeUndefined();
    expect(holder.connections()).toBe(accepted);
    expect(holder.openConnections()).toBe(1);

    // The grace ends, the lease is revoked: the node leaves etcd, HAProxy keeps draining it.
    expect(await exited).toBe(0);
    expect(await keysOf('db1')).toEqual([]);
    await watcher.waitForLog((e) => e.msg === 'node removed' && e.node === 'db1');
    expect(await server('db1')).toMatchObject({ sessions: 1 });
    expect(cut).toBe(false);

    // The session finishes by itself: then the server is deleted.
    held.end();
    await waitFor('db1 deleted', async () => (await server('db1')) === undefined, 10_000);
    await waitFor('the session closed', () => cut, 5_000);
    expect(holder.connections()).toBe(accepted);
    expect(await reloads()).toBe(reloadsBefore);
    expect(register.logs.map((e) => e.msg)).toEqual(expect.arrayContaining(['draining: proxies stop sending new clients; leaving after the grace', 'deregistered']));
  });

  it('a second SIGTERM ends the grace at once', async () => {
    const register = startRegister('db1', IPS[0], ['--drain-grace', '60s']);
    await register.waitForLog((e) => e.msg === 'registered');
    await waitFor('db1 UP again', async () => (await server('db1'))?.operState === 2, 20_000);
    register.child.kill('SIGTERM');
    await register.waitForLog((e) => e.msg === 'draining: proxies stop sending new clients; leaving after the grace');
    const t0 = Date.now();
    expect(await register.stop('SIGTERM', 10_000)).toBe(0);
    console.log(`register: second SIGTERM to exit ${String(Date.now() - t0)} ms (grace 60 s)`);
    // The exit can come before the child's last stderr lines are read here.
    await register.waitForLog((e) => e.msg === 'second stop signal: leaving now', 2_000);
    expect(await keysOf('db1')).toEqual([]);
    await waitFor('db1 deleted', async () => (await server('db1')) === undefined, 10_000);
  });
});

describe('drain and undrain by hand', () => {
  it('drain NODE marks it under the node\'s lease: DRAIN without a reload, kept across a reload; undrain puts it back', async () => {
    const reloadsBefore = await reloads();
    const lease = (await client.get(`${PREFIX}/db2/ip`).exec()).kvs[0]?.lease;
    const r = await runCli(['drain', 'db2', ...etcdFlags]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/node db2 marked draining under its lease/);
    const mark = (await client.get(`${PREFIX}/db2/draining`).exec()).kvs[0];
    expect(mark?.value.toString()).toBe('true');
    expect(String(mark?.lease)).toBe(String(lease));
    await waitFor('db2 in DRAIN', () => drained('db2'), 3_000, 20);
    // HAProxy shows the drain before the watcher's pass has reported it: /status follows the pass.
    const watcherStatus = await eventually('/status to list db2 draining', async () => {
      const body = (await (await fetch(statusUrl)).json()) as { services: { draining?: string[] }[] };
      return body.services[0]?.draining?.includes('db2') === true ? body : undefined;
    });
    expect(watcherStatus.services[0]?.draining).toEqual(['db2']);
    const metrics = await (await fetch(statusUrl.replace('/status', '/metrics'))).text();
    expect(metrics).toMatch(/^galera_haproxy_nodes\{(?=[^}]*state="draining")(?=[^}]*service="galera")[^}]*\} 1$/m);
    const during = await spread(8);
    expect(during.get(node(1).greeting)).toBeUndefined();

    const again = await runCli(['drain', 'db2', ...etcdFlags]);
    expect(again.stdout).toContain('already draining');

    // A reload (the template changed) keeps the drain: the state file carries it.
    const seen = watcher.logs.length;
    await writeFile(templatePath, bundled.replace('    retries 3\n', '    retries 4\n'));
    await watcher.waitForLog((e) => watcher.logs.indexOf(e) >= seen && e.msg === 'reload confirmed', 20_000);
    expect(await reloads()).toBe(reloadsBefore + 1);
    expect(await drained('db2')).toBe(true);
    expect((await spread(6)).get(node(1).greeting)).toBeUndefined();

    const u = await runCli(['undrain', 'db2', ...etcdFlags]);
    expect(u.code, u.stderr).toBe(0);
    expect(await keysOf('db2')).not.toContain(`${PREFIX}/db2/draining`);
    await waitFor('db2 ready', async () => (await server('db2'))?.adminState === 0, 3_000, 20);
    await waitFor('db2 takes sessions again', async () => (await spread(6)).has(node(1).greeting), 5_000);
    expect(await reloads()).toBe(reloadsBefore + 1);
  });

  it('a flat (JSON) node is drained by a key beside its value, which vanishes with the node', async () => {
    const r = await runCli(['drain', 'db3', ...etcdFlags]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('db3 in DRAIN', () => drained('db3'), 3_000, 20);
    expect(await keysOf('db3')).toEqual([`${PREFIX}/db3`, `${PREFIX}/db3/draining`]);
    // The register leaves without a grace: its lease takes the operator's mark along.
    const register = registers.get('db3')!;
    registers.delete('db3');
    register.child.kill('SIGTERM');
    register.child.kill('SIGTERM');
    expect(await register.stop('SIGTERM', 15_000)).toBe(0);
    expect(await keysOf('db3')).toEqual([]);
  });

  it('an unknown node is exit 2 naming it and the known ones', async () => {
    const r = await runCli(['drain', 'nosuch', ...etcdFlags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no node "nosuch" under \/components\/galera\/ \(registered: .*db2/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('status', () => {
  it('lists every node with its role, HAProxy\'s view and its own clustercheck', async () => {
    await client.put(`${PREFIX}/ghost`).value(`${GHOST}:3306`);
    await client.put(`${PREFIX}/_writer`).value('{"node":"db2"}');
    expect((await runCli(['drain', 'db2', ...etcdFlags])).code).toBe(0);
    await waitFor('db2 in DRAIN', () => drained('db2'), 3_000, 20);
    node(0).setHealthy(false);
    startRegister('db1', IPS[0]);
    await waitFor('db1 back in HAProxy and DOWN', async () => (await server('db1'))?.operState === 0, 20_000);

    const { code, report } = await status();
    expect(code).toBe(0);
    const rows = report.services[0]?.nodes ?? [];
    const row = (id: string) => rows.find((n) => n.node === id);
    expect(row('db1')).toMatchObject({ role: 'writer', haproxy: 'DOWN', clustercheck: 'Donor/Desynced', recvQueue: 7, reason: 'node is a donor (simulated)' });
    expect(row('db2')).toMatchObject({ role: 'draining', haproxy: 'DRAIN', clustercheck: 'Synced', recvQueue: 0, sessions: 0 });
    expect(row('ghost')).toMatchObject({ role: 'writer', haproxy: 'DOWN', clustercheck: 'unreachable' });
    expect(report.services[0]?.writerRecord?.value).toBe('{"node":"db2"}');
    expect(report.services[0]?.problems).toEqual([expect.stringMatching(/^ghost: clustercheck http:\/\/127\.0\.0\.229:9200\/: /)]);

    const table = await runCli(['status', ...etcdFlags, '--set', `stats_socket=${statsSocket}`]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines.find((l) => l.startsWith('db2 '))).toMatch(/^db2\s+db2\s+127\.0\.0\.222:3306\s+draining\s+DRAIN\s+0\s+Synced\s+0$/);
    expect(lines.find((l) => l.startsWith('ghost '))).toMatch(/\bunreachable\b/);
    expect(lines).toContain(`writer record: {"node":"db2"} (epoch ${(await client.get(`${PREFIX}/_writer`).exec()).kvs[0]?.mod_revision})`);
    node(0).setHealthy(true);
  });

  it('--watch refreshes until SIGTERM', async () => {
    const daemon = startCliDaemon(['status', '--json', '--watch', '0.3', ...etcdFlags, '--set', `stats_socket=${statsSocket}`]);
    let lines = '';
    daemon.child.stdout!.on('data', (d: Buffer) => (lines += d.toString()));
    await waitFor('three refreshes', () => lines.split('\n').filter((l) => l.startsWith('{')).length >= 3, 15_000);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    const reports = lines.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StatusReport);
    expect(new Set(reports.map((r) => r.at)).size).toBe(reports.length);
    expect(reports.every((r) => r.services[0]?.nodes.some((n) => n.node === 'db2' && n.role === 'draining'))).toBe(true);
  });

  it('shows an unreachable stats socket as unreachable, exit 4, no stack trace', async () => {
    const r = await runCli(['status', ...etcdFlags, '--stats-socket', join(dir.path, 'missing.sock')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/\n\s+at /);
    expect(r.stdout.split('\n').find((l) => l.startsWith('db2 '))).toMatch(/\bdraining\s+unreachable\s+-\s+Synced/);
    expect(r.stdout).toMatch(/^unreachable: HAProxy stats socket .*missing\.sock: .*ENOENT/m);
  });
});
