import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { runtimeServers, showProc } from '../helpers/runtime.js';
import type { RuntimeServer } from '../../src/plan/types.js';
import { inRotation } from '../../src/plan/admin-state.js';

// The real CLI (`watch`, `once`, `render`) against a real etcd and a real HAProxy 2.6 in master-worker
// mode, with simulated Galera nodes on loopback aliases 127.0.0.41–44.
const PREFIX = '/components/galera';
const IPS = ['127.0.0.41', '127.0.0.42', '127.0.0.43', '127.0.0.44'];

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let configPath: string;
let templatePath: string;
let common: string[];
let statusUrl: string;

const runtime = (): Promise<RuntimeServer[]> => runtimeServers(statsSocket, 'galera');

async function runtimeAddresses(): Promise<string[]> {
  return (await runtime()).map((s) => `${s.address}:${s.port}`).sort();
}

const reloadCount = async (): Promise<number> => (await showProc(haproxy.masterSocket)).reloads;

// The file follows a runtime change within tens of ms (its `haproxy -c` runs behind the runtime ops).
const untilFile = (what: string, ok: (text: string) => boolean) =>
  eventually(`haproxy.cfg ${what}`, async () => {
    const text = await readFile(configPath, 'utf8');
    return ok(text) ? text : undefined;
  });

const untilServers = (want: string[]) =>
  eventually(`HAProxy servers = ${want.join(', ')}`, async () => {
    const got = await runtimeAddresses();
    return JSON.stringify(got) === JSON.stringify([...want].sort()) ? got : undefined;
  });

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-cli-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of IPS) nodes.push(await startFakeGaleraNode({ ip }));
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'custom.cfg.njk');
  const bundled = await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8');
  await writeFile(templatePath, bundled);
  const port = await freePort();
  common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--template', templatePath,
    '--set', `listen=127.0.0.1:${port}`,
    '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--set', 'check_inter=500ms',
    '--log-level', 'debug',
  ];
  await client.put(`${PREFIX}/a/ip`).value(IPS[0]!);
  await client.put(`${PREFIX}/a/port`).value('3306');
  const first = await runCli(['render', '--check', ...common]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  const statusPort = await freePort();
  statusUrl = `http://127.0.0.1:${statusPort}`;
  watcher = startCliDaemon(['watch', ...common, '--status-listen', `127.0.0.1:${statusPort}`, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--drain-timeout', '1s', '--repair-interval', '1s']);
  await watcher.waitForLog((e) => e.msg === 'watching etcd');
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  for (const n of nodes) await n.close();
  await dir?.remove();
});

describe('galera-haproxy watch', () => {
  it('adds servers registered in every layout without a reload', async () => {
    await untilServers([`${IPS[0]}:3306`]);
    const before = await reloadCount();
    await client.put(`${PREFIX}/b`).value(`${IPS[1]}:3306`);
    await client.put(`${PREFIX}/c`).value(JSON.stringify({ ip: IPS[2], port: 3306, weight: 5 }));
    await untilServers([`${IPS[0]}:3306`, `${IPS[1]}:3306`, `${IPS[2]}:3306`]);
    expect((await runtime()).find((s) => s.address === IPS[2])?.weight).toBe(5);
    expect(await reloadCount()).toBe(before);
    const onDisk = await untilFile('lists a, b and c', (t) => IPS.slice(0, 3).every((ip) => t.includes(`${ip}:3306`)));
    expect(onDisk).toMatch(/server c 127\.0\.0\.43:3306 weight 5/);
  });

  it('rejects a hostile value with a line naming the key, and renders nothing of it', async () => {
    await client.put(`${PREFIX}/evil`).value(`${IPS[3]}:3306\n  server injected 127.0.0.99:3306`);
    const line = await watcher!.waitForLog((e) => typeof e.msg === 'string' && e.msg.includes('node rejected') && e.key === `${PREFIX}/evil`);
    expect(line.msg).toContain(`${PREFIX}/evil`);
    await client.put(`${PREFIX}/d`).value(IPS[3]!);
    await untilServers(IPS.map((ip) => `${ip}:3306`));
    const onDisk = await untilFile('lists d', (t) => t.includes(`${IPS[3]}:3306`));
    expect(onDisk).not.toContain('injected');
    expect(onDisk).not.toContain('127.0.0.99');
    await client.delete().key(`${PREFIX}/evil`);
  });

  it('removes a deleted node from HAProxy and from the file, without a reload', async () => {
    const before = await reloadCount();
    await client.delete().key(`${PREFIX}/d`);
    const decided = await watcher!.waitForLog((e) => e.msg === 'node removed' && e.node === 'd');
    expect(decided.address).toBe(IPS[3]);
    const servers = await untilServers(IPS.slice(0, 3).map((ip) => `${ip}:3306`));
    expect(servers).not.toContain(`${IPS[3]}:3306`);
    const onDisk = await untilFile('no longer lists d', (t) => !t.includes(`${IPS[3]}:3306`));
    expect(onDisk).not.toMatch(/server d /);
    expect(onDisk).toMatch(/server c 127\.0\.0\.43:3306/);
    expect(await reloadCount()).toBe(before);
  });

  it('keeps the last config when the whole prefix vanishes (guard)', async () => {
    const before = await untilFile('lists a, b and c', (t) => IPS.slice(0, 3).every((ip) => t.includes(`${ip}:3306`)));
    await client.delete().prefix(`${PREFIX}/`);
    await watcher!.waitForLog((e) => e.outcome === 'guarded');
    expect(await readFile(configPath, 'utf8')).toBe(before);
    expect(await runtimeAddresses()).toHaveLength(3);
    await client.put(`${PREFIX}/a`).value(IPS[0]!);
    await untilServers([`${IPS[0]}:3306`]);
  });

  it('keeps the last good config through a broken template, and heals when it is fixed', async () => {
    const good = await readFile(templatePath, 'utf8');
    const before = await untilFile('lists only a', (t) => t.includes(`${IPS[0]}:3306`) && !t.includes(`${IPS[1]}:3306`));
    await writeFile(templatePath, `${good}\n    this-is-not-a-directive {{ nodes | length }}\n`);
    await watcher!.waitForLog((e) => e.outcome === 'failed' && typeof e.reason === 'string' && e.reason.includes('haproxy -c'));
    expect(await readFile(configPath, 'utf8')).toBe(before);
    try {
      // A template that does not even compile is refused when it is loaded; the last good one stays.
      await writeFile(templatePath, `${good}\n{% if %}\n`);
      const refused = await watcher!.waitForLog((e) => typeof e.msg === 'string' && e.msg.includes('cannot be loaded'));
      expect(String(refused.err)).toMatch(/custom\.cfg\.njk:\d+/);
      expect(await readFile(configPath, 'utf8')).toBe(before);
    } finally {
      await writeFile(templatePath, good);
    }
    await client.put(`${PREFIX}/b`).value(IPS[1]!);
    await untilServers([`${IPS[0]}:3306`, `${IPS[1]}:3306`]);
  });

  it('repairs a server disabled by hand through the runtime, without a reload', async () => {
    const name = (await runtime())[0]!.name;
    const before = await reloadCount();
    const seen = watcher!.logs.length;
    await sendSocketCommand(statsSocket, `disable server galera/${name}`);
    const repaired = await watcher!.waitForLog((e) => watcher!.logs.indexOf(e) >= seen && e.msg === 'runtime op applied' && e.op === 'repair' && e.server === `galera/${name}`);
    expect(typeof repaired.revision).toBe('string');
    const drift = await watcher!.waitForLog((e) => watcher!.logs.indexOf(e) >= seen && e.msg.startsWith('HAProxy had drifted'));
    expect(drift.ops).toBeGreaterThanOrEqual(1);
    const after = await eventually('the server back in service', async () => {
      const servers = await runtime();
      return servers.every(inRotation) ? servers : undefined;
    });
    expect(after.map((s) => s.name)).toContain(name);
    expect(await reloadCount()).toBe(before);
  });

  it('serves /healthz, /status and Prometheus /metrics', async () => {
    const health = await fetch(`${statusUrl}/healthz`);
    expect(health.status, await health.clone().text()).toBe(200);
    interface Status {
      healthy: boolean;
      problems: string[];
      unableToSync: number;
      etcd: { connected: boolean; lastHeardAt: string; lastHeardAgeSeconds: number; revision: string; watch: { attached: boolean; verifiedAt: string } };
      lastPass: { outcome: string };
      nodes: { valid: number };
    }
    // The revision is the mirror's: at least the newest write under the prefix, and the same in /metrics.
    const newest = (await client.getAll().prefix(`${PREFIX}/`).sort('Mod', 'Descend').limit(1).exec()).kvs[0]!.mod_revision;
    const status = await eventually('the status to reach the newest write', async () => {
      const s = (await (await fetch(`${statusUrl}/status`)).json()) as Status;
      return BigInt(s.etcd.revision) >= BigInt(newest) ? s : undefined;
    });
    expect(status).toMatchObject({ healthy: true, problems: [], unableToSync: 0 });
    expect(status.etcd.connected).toBe(true);
    expect(status.etcd.watch.attached).toBe(true);
    expect(status.etcd.lastHeardAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(Date.now() - Date.parse(status.etcd.lastHeardAt)).toBeLessThan(30_000);
    expect(status.etcd.lastHeardAgeSeconds).toBeLessThan(30);
    expect(status.nodes.valid).toBeGreaterThan(0);
    const metrics = await eventually('the revision gauge to follow the mirror', async () => {
      const text = await (await fetch(`${statusUrl}/metrics`)).text();
      return new RegExp(`^galera_haproxy_etcd_revision ${status.etcd.revision}$`, 'm').test(text) ? text : undefined;
    });
    // Heard on every answer (the heartbeat), not only when the watch connected.
    const heard = Number(/^galera_haproxy_etcd_last_heard_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(heard * 1000).toBeGreaterThan(Date.parse(status.etcd.lastHeardAt) - 2000);
    expect(metrics).toMatch(/^galera_haproxy_updates_total\{outcome="runtime"\} [1-9]/m);
    expect(metrics).toMatch(/^galera_haproxy_unable_to_sync 0$/m);
    expect(metrics).toMatch(/^galera_haproxy_nodes\{service="galera",state="valid"\} [1-9]/m);
    expect((await fetch(`${statusUrl}/nope`)).status).toBe(404);
  });

  it('exits 0 on SIGTERM', async () => {
    const code = await watcher!.stop('SIGTERM');
    watcher = null;
    expect(code).toBe(0);
  });
});

describe('galera-haproxy once and render', () => {
  it('once applies the current state and exits 0', async () => {
    await client.put(`${PREFIX}/c`).value(IPS[2]!);
    const r = await runCli(['once', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket]);
    expect(r.code, r.stderr).toBe(0);
    await untilServers([`${IPS[0]}:3306`, `${IPS[1]}:3306`, `${IPS[2]}:3306`]);
  });

  it('render --nodes prints a checked config and touches nothing', async () => {
    const nodesFile = join(dir.path, 'nodes.json');
    await writeFile(nodesFile, JSON.stringify({ [`${PREFIX}/x/ip`]: '10.1.2.3', [`${PREFIX}/x/port`]: '3307', [`${PREFIX}/y`]: '[2001:db8::1]:3306' }));
    const r = await runCli(['render', '--nodes', nodesFile, '--check', '--set', `stats_socket=${statsSocket}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/server x 10\.1\.2\.3:3307/);
    expect(r.stdout).toMatch(/server y \[2001:db8::1\]:3306/);
  });

  it('render fails with one clear line on a bad --set, and with exit 3 below --min-servers', async () => {
    const bad = await runCli(['render', '--nodes', '/dev/null', '--set', 'listen=0.0.0.0:99999']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/listen/);
    const nodesFile = join(dir.path, 'one.json');
    await writeFile(nodesFile, JSON.stringify({ [`${PREFIX}/x`]: '10.1.2.3' }));
    const guarded = await runCli(['render', '--nodes', nodesFile, '--min-servers', '2']);
    expect(guarded.code).toBe(3);
    expect(guarded.stderr).toMatch(/fewer than --min-servers 2/);
  });

  it('once without a way to reload HAProxy is a usage error', async () => {
    const r = await runCli(['once', ...common, '--config', configPath]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --master-socket .* or --reload-cmd/);
  });

  it('once against an unreachable etcd fails without touching the file', async () => {
    const before = await readFile(configPath, 'utf8');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['once', ...common.map((a) => (a === etcd.endpoint ? dead : a)), '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket], { timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/etcd/i);
    expect(await readFile(configPath, 'utf8')).toBe(before);
  });
});
