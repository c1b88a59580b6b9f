import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { readHaproxyVersion, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { readGreeting, runtimeServers } from '../helpers/runtime.js';
import { inRotation } from '../../src/plan/admin-state.js';

// One Galera cluster behind several proxies (each a real HAProxy with its own real `watch`), one etcd,
// single-writer mode: every proxy must send writes to the node the etcd writer record names, and a
// writer change must never leave two proxies writing to two nodes. Simulated Galera nodes on
// 127.0.0.202-204, the proxies' write (3306) and read (3307) listeners on 127.0.0.205-209.
const PREFIX = '/components/galera';
const KEY = `${PREFIX}/_writer`;
// Ids as a registrar writes them (uuids); server names come from the `host` field.
const NODES = [
  { id: '0c7b1b2e-a', host: 'db-a', ip: '127.0.0.202', priority: 1 },
  { id: '5d2e9f11-b', host: 'db-b', ip: '127.0.0.203', priority: 2 },
  // Priority 0: never proposed, though it is UP all along and sorts last... and first by id.
  { id: '00aa33ff-c', host: 'db-c', ip: '127.0.0.204', priority: 0 },
];
const PROXY_IPS = ['127.0.0.205', '127.0.0.206', '127.0.0.207', '127.0.0.208', '127.0.0.209'];

interface Proxy {
  readonly id: string;
  readonly ip: string;
  readonly dir: TempDir;
  readonly statsSocket: string;
  readonly args: string[];
  readonly statusUrl: string;
  readonly haproxy: RunningHaproxy;
  watcher: CliDaemon;
}

let etcd: EtcdServer;
let client: Etcd3;
const galera: FakeGaleraNode[] = [];
const proxies: Proxy[] = [];
const stopped: CliDaemon[] = [];

const register = (n: (typeof NODES)[number], prefix = PREFIX) => client.put(`${prefix}/${n.id}`).value(JSON.stringify({ ip: n.ip, port: 3306, host: n.host, priority: n.priority }));

/** The servers of the write listener that can take a new connection now: UP, in rotation, weight > 0. */
async function writable(p: Proxy): Promise<string[]> {
  const servers = await runtimeServers(p.statsSocket, 'galera');
  return servers.filter((s) => s.operState === 2 && inRotation(s) && s.weight > 0).map((s) => s.name).sort();
}

async function upIn(p: Proxy, backend: string): Promise<string[]> {
  return (await runtimeServers(p.statsSocket, backend)).filter((s) => s.operState === 2 && inRotation(s)).map((s) => s.name).sort();
}

async function record(key = KEY): Promise<{ node: string; by: string; reason: string; version: number; modRevision: string } | null> {
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  if (kv === undefined) return null;
  const parsed = JSON.parse(kv.value.toString()) as { node: string; by: string; reason: string };
  return { ...parsed, version: Number(kv.version), modRevision: kv.mod_revision };
}

const nameOf = (id: string): string => NODES.find((n) => n.id === id)?.host ?? `unknown ${id}`;

/** A proxy: HAProxy started on the file `render` makes (edited by `firstConfig`), and its `watch`. */
async function startProxy(index: number, options: { prefix?: string; firstConfig?: (text: string) => string } = {}): Promise<Proxy> {
  const ip = PROXY_IPS[index]!;
  const dir = await tempDir(`galera-haproxy-writer-${index}-`);
  const statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  const common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', options.prefix ?? PREFIX,
    '--set', 'writer=single',
    '--set', `listen=${ip}:3306`,
    '--set', `read_listen=${ip}:3307`,
    '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--set', 'check_inter=200ms',
    '--set', 'rise=1',
    '--set', 'fall=1',
  ];
  const first = await runCli(['render', '--check', ...common]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, options.firstConfig?.(first.stdout) ?? first.stdout);
  const haproxy = await startHaproxy({ configPath, dir: dir.path });
  const statusPort = await freePort();
  const args = ['watch', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--proxy-id', `proxy-${index}`, '--status-listen', `127.0.0.1:${statusPort}`];
  const watcher = startCliDaemon(args);
  await watcher.waitForLog((e) => e.msg === 'watching etcd');
  const proxy = { id: `proxy-${index}`, ip, dir, statsSocket, args, statusUrl: `http://127.0.0.1:${statusPort}`, haproxy, watcher };
  proxies.push(proxy);
  return proxy;
}

/** Every proxy's writable servers, read from all sockets at once, every few ms until stopped. */
class Sampler {
  readonly samples: { t: number; writable: string[][] }[] = [];
  private running = true;
  private readonly done: Promise<void>;
  constructor(private readonly watched: readonly Proxy[]) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    while (this.running) {
      const seen = await Promise.all(this.watched.map((p) => writable(p)));
      // Stamped when every answer is in: a change is never dated before a socket showed it.
      this.samples.push({ t: Date.now(), writable: seen });
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
  /** Samples in which two different servers could take writes, on one proxy or across proxies. */
  twoWriters(): { t: number; writable: string[][] }[] {
    return this.samples.filter((s) => new Set(s.writable.flat()).size > 1);
  }
  /** The first sample from which on every proxy writes only to `server`. */
  allOn(server: string, after: number): number | undefined {
    return this.samples.find((s) => s.t >= after && s.writable.every((w) => w.length === 1 && w[0] === server))?.t;
  }
}

/** A client session held open through a proxy: its greeting, and when the proxy closed it. */
async function holdSession(host: string, port: number): Promise<{ greeting: string; closed: Promise<number> }> {
  const socket = connect({ host, port });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  const greeting = await new Promise<string>((resolve, reject) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (data.includes('\n')) resolve(data);
    });
    setTimeout(() => reject(new Error(`no greeting from ${host}:${port}`)), 3000);
  });
  return { greeting, closed };
}

/** New clients through each write listener every 20 ms, until stopped: who greeted them, and failures. */
function clientLoad(ips: readonly string[]) {
  let running = true;
  const greeted: { ip: string; started: number; at: number }[] = [];
  const errors: string[] = [];
  let slowestMs = 0;
  const one = async (ip: string): Promise<void> => {
    const started = Date.now();
    try {
      const greeting = await readGreeting(ip, 3306, 6_000);
      const at = Date.now();
      slowestMs = Math.max(slowestMs, at - started);
      greeted.push({ ip: greeting.split(' ')[1]!.split(':')[0]!, started, at });
    } catch (err) {
      errors.push(`${ip} at ${new Date(started).toISOString()}: ${String(err)}`);
    }
  };
  const loops = ips.map(async (ip) => {
    const pending: Promise<void>[] = [];
    while (running) {
      pending.push(one(ip));
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(pending);
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      const byNode = new Map<string, number>();
      for (const g of greeted) byNode.set(g.ip, (byNode.get(g.ip) ?? 0) + 1);
      return { tried: greeted.length + errors.length, failed: errors.length, errors, greeted, byNode, slowestMs };
    },
  };
}

const proposalsWon = (p: Proxy): LogEntry[] => p.watcher.logs.filter((e) => e.msg === 'writer proposal won');
const logTime = (e: LogEntry): number => Date.parse(String(e['time']));

async function allWriteTo(server: string, among: readonly Proxy[] = proxies): Promise<void> {
  await eventually(`every proxy writes to ${server} only`, async () => {
    const views = await Promise.all(among.map(writable));
    return views.every((w) => w.length === 1 && w[0] === server) ? views : undefined;
  }, 15_000);
}

/**
 * Runs `fault` while sampling the three first proxies, and checks what followed: the record moved once
 * (one proposal won, the key's version up by one) to `to`, every proxy then wrote to `to` alone, and no
 * sample ever had two different servers taking writes.
 */
async function oneMove(fault: () => void | Promise<void>, to: string) {
  const before = (await record())!;
  const sampler = new Sampler(proxies.slice(0, 3));
  const startedAt = Date.now();
  await fault();
  await eventually('the record moves', async () => {
    const r = await record();
    return r !== null && r.version > before.version ? r : undefined;
  }, 15_000);
  await allWriteTo(to);
  await new Promise((r) => setTimeout(r, 500));
  await sampler.stop();
  const now = (await record())!;
  expect(nameOf(now.node)).toBe(to);
  expect(now.version).toBe(before.version + 1);
  expect(sampler.twoWriters()).toEqual([]);
  const won = proxies.flatMap(proposalsWon).filter((e) => logTime(e) >= startedAt);
  expect(won).toHaveLength(1);
  const recordAt = logTime(won[0]!);
  return { sampler, startedAt, recordAt, allAt: sampler.allOn(to, recordAt) ?? Number.NaN, version: now.version };
}

const figures: Record<string, number>[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  for (const n of NODES) galera.push(await startFakeGaleraNode({ ip: n.ip, holdConnections: true }));
  for (const n of NODES) await register(n);
  for (let i = 0; i < 3; i += 1) await startProxy(i);
}, 60_000);

afterAll(async () => {
  for (const p of proxies) {
    await p.watcher.stop('SIGKILL');
    await p.haproxy.stop();
    await p.dir.remove();
  }
  for (const d of stopped) await d.stop('SIGKILL');
  client?.close();
  await etcd?.destroy();
  for (const g of galera) await g.close();
  if (figures.length > 0) console.log(`writer failover (${readHaproxyVersion().line}): ${JSON.stringify(figures)}`);
});

describe('single writer through the etcd record, three proxies', () => {
  it('agrees on one writer: the first record is created once, and every proxy writes to it alone', async () => {
    const first = await eventually('a writer record', async () => (await record()) ?? undefined, 15_000);
    // db-b: the highest priority among the nodes UP (db-c, priority 0, is never proposed).
    expect(nameOf(first.node)).toBe('db-b');
    expect(first.version).toBe(1);
    await allWriteTo('db-b');
    expect(proxies.map(proposalsWon).flat()).toHaveLength(1);
    // Through the write listener of each proxy, a client lands on db-b; the read listener balances over all.
    for (const p of proxies) {
      expect(await readGreeting(p.ip, 3306)).toBe(`fake-galera ${NODES[1]!.ip}:3306\n`);
      await eventually(`${p.id} reads from every node`, async () => ((await upIn(p, 'galera_read')).length === 3 ? true : undefined));
    }
    // /status shows the record as each proxy renders it; /metrics its epoch and that this proxy agrees.
    for (const p of proxies) {
      // HAProxy may route before this watcher's own first pass has reported (a loaded machine): wait for it.
      const status = await eventually(`${p.id}'s /status to show a writer`, async () => {
        const body = (await (await fetch(`${p.statusUrl}/status`)).json()) as { services: { writer?: Record<string, unknown> }[]; lastPass: unknown };
        return body.services[0]?.writer === undefined ? undefined : body;
      });
      expect(status.services[0]?.writer, JSON.stringify(status)).toMatchObject({ key: KEY, epoch: first.modRevision, node: NODES[1]!.id, server: 'db-b', by: first.by, agrees: true, holdMs: 0 });
      const metrics = await (await fetch(`${p.statusUrl}/metrics`)).text();
      expect(metrics).toContain(`galera_haproxy_writer_epoch{service="galera"} ${first.modRevision}`);
      expect(metrics).toContain('galera_haproxy_writer_agrees{service="galera"} 1');
    }
  });

  it('the writer fails its check: exactly one record change, all proxies follow, never two writers at once; it stays a reader when back', async () => {
    const move = await oneMove(() => galera[1]!.setHealthy(false), 'db-a');
    // Detection: the first sample in which some HAProxy had taken db-b out (its check failed).
    const downAt = move.sampler.samples.find((s) => s.writable.some((w) => !w.includes('db-b')))?.t ?? move.recordAt;
    figures.push({ case: 1, failToDetectMs: downAt - move.startedAt, detectToRecordMs: move.recordAt - downAt, recordToAllMs: move.allAt - move.recordAt, failToAllMs: move.allAt - move.startedAt, samples: move.sampler.samples.length });

    // db-b recovers: UP again in every HAProxy, and it stays a reader.
    galera[1]!.setHealthy(true);
    for (const p of proxies) await eventually(`${p.id} sees db-b UP`, async () => ((await upIn(p, 'galera')).includes('db-b') ? true : undefined));
    await new Promise((r) => setTimeout(r, 2500));
    expect((await record())!.version).toBe(move.version);
    for (const p of proxies) expect(await writable(p)).toEqual(['db-a']);
  });

  it('the writer leaves etcd: exactly one record change, all proxies follow, never two writers at once', async () => {
    const move = await oneMove(() => client.delete().key(`${PREFIX}/${NODES[0]!.id}`).then(() => undefined), 'db-b');
    figures.push({ case: 2, removeToRecordMs: move.recordAt - move.startedAt, recordToAllMs: move.allAt - move.recordAt, removeToAllMs: move.allAt - move.startedAt, samples: move.sampler.samples.length });
    await register(NODES[0]!);
    for (const p of proxies) await eventually(`${p.id} sees db-a UP`, async () => ((await upIn(p, 'galera')).includes('db-a') ? true : undefined));
    expect((await record())!.version).toBe(move.version);
  });

  it('a restarted watcher and a new fourth proxy adopt the record as they find it', async () => {
    const before = (await record())!;
    const restarted = proxies[0]!;
    expect(await restarted.watcher.stop()).toBe(0);
    stopped.push(restarted.watcher);
    restarted.watcher = startCliDaemon(restarted.args);
    await restarted.watcher.waitForLog((e) => e.msg === 'writer record adopted' && e['epoch'] === before.modRevision);
    const fourth = await startProxy(3);
    await fourth.watcher.waitForLog((e) => e.msg === 'writer record adopted' && e['epoch'] === before.modRevision);
    await allWriteTo('db-b');
    expect(await readGreeting(fourth.ip, 3306)).toBe(`fake-galera ${NODES[1]!.ip}:3306\n`);
    expect(proposalsWon(restarted)).toEqual([]);
    expect(proposalsWon(fourth)).toEqual([]);
    expect((await record())!.version).toBe(before.version);
  });

  it('switchover: refuses an unknown or never-writer target with the reason; under load it waits for the target to apply its queue, refuses no client, and cuts the old writer\'s sessions as the new one comes in', async () => {
    const p = proxies[1]!;
    const before = (await record())!;
    const switchover = (to: string) =>
      runCli(['switchover', '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX, '--set', 'writer=single', '--set', `stats_socket=${p.statsSocket}`, '--proxy-id', 'operator', '--to', to]);
    const unknown = await switchover('db-x');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('"db-x" is not a registered node');
    const never = await switchover('db-c');
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('db-c has priority 0: it is never the writer');
    const same = await switchover('db-b');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('db-b already is the writer');
    expect((await record())!.version).toBe(before.version);

    // Under load: every proxy's write listener gets a new client every 20 ms, and one client holds a
    // session on the old writer (db-b). The target (db-a) still has write sets to apply at first.
    const held = await holdSession(proxies[0]!.ip, 3306);
    expect(held.greeting).toBe(`fake-galera ${NODES[1]!.ip}:3306\n`);
    galera[0]!.setRecvQueue(5);
    const sampler = new Sampler(proxies);
    const load = clientLoad(proxies.map((q) => q.ip));
    let clients: Awaited<ReturnType<typeof load.stop>>;
    let moved: Awaited<ReturnType<typeof switchover>>;
    let queueEmptyAt: number;
    let movedAt: number;
    let recordWhileQueued: number;
    try {
      const moving = switchover(NODES[0]!.id);
      await new Promise((r) => setTimeout(r, 1500));
      recordWhileQueued = (await record())!.version;
      queueEmptyAt = Date.now();
      galera[0]!.setRecvQueue(0);
      moved = await moving;
      await allWriteTo('db-a');
      movedAt = Date.now();
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      clients = await load.stop();
      await sampler.stop();
    }
    expect(recordWhileQueued, 'the record waits for the queue').toBe(before.version);
    expect(moved.code, `${moved.stdout}\n${moved.stderr}`).toBe(0);
    expect(moved.stderr, moved.stderr).toContain('switchover waits: db-a has 5 write sets received and not applied yet (wsrep_local_recv_queue)');
    expect(moved.stdout).toContain('-> db-a');
    expect(moved.stdout).toMatch(/this HAProxy writes to db-a [\d.]+ m?s after the record moved/);
    const now = (await record())!;
    expect(now).toMatchObject({ node: NODES[0]!.id, by: 'operator', version: before.version + 1 });
    expect(sampler.twoWriters()).toEqual([]);
    expect(proxies.flatMap(proposalsWon).filter((e) => logTime(e) >= sampler.samples[0]!.t)).toEqual([]);
    // No client was refused: those arriving in the handover waited in HAProxy, then reached the new writer.
    expect(clients.failed, clients.errors.slice(0, 5).join('\n')).toEqual(0);
    expect(clients.byNode.get(NODES[1]!.ip) ?? 0).toBeGreaterThan(0);
    expect(clients.byNode.get(NODES[0]!.ip) ?? 0).toBeGreaterThan(0);
    // Nobody reached db-b once any proxy wrote to db-a.
    const firstOnA = Math.min(...clients.greeted.filter((g) => g.ip === NODES[0]!.ip).map((g) => g.at));
    expect(clients.greeted.filter((g) => g.ip === NODES[1]!.ip && g.started > firstOnA)).toEqual([]);
    // The session held on db-b was shut down by HAProxy as db-a came in, not before the record moved.
    const closedAt = await Promise.race([held.closed, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 3000))]);
    expect(closedAt).toBeGreaterThan(queueEmptyAt);
    expect(closedAt).toBeLessThanOrEqual(movedAt + 1000);
    expect(proxies[0]!.watcher.logs.some((e) => e.msg === 'sessions left on the old writer shut down' && e['server'] === 'galera/db-b')).toBe(true);
    figures.push({ case: 3, switchoverClients: clients.tried, refused: clients.failed, slowestConnectMs: clients.slowestMs });
  });

  it('a record that does not decode: one error line naming the key, never rendered, replaced by one proposal', async () => {
    const before = (await record())!;
    const startedAt = Date.now();
    await client.put(KEY).value('db-a\n  server injected 10.9.9.9:3306');
    // record() throws on the bad value, and `eventually` retries until a proposal replaced it.
    const replaced = await eventually('a valid record again', async () => (await record()) ?? undefined, 15_000);
    expect(replaced.version).toBe(before.version + 2);
    expect(nameOf(replaced.node)).toBe('db-b');
    await allWriteTo('db-b');
    const won = proxies.flatMap(proposalsWon).filter((e) => logTime(e) >= startedAt);
    expect(won).toHaveLength(1);
    expect(won[0]?.['reason']).toBe('the writer record does not decode');
    const errors = proxies.flatMap((p) => p.watcher.logs.filter((e) => e.level === 'error' && logTime(e) >= startedAt));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const e of errors) expect(e.msg).toMatch(new RegExp(`^writer record ${KEY}: writer record ".*" is not JSON; treated as no record`));
    for (const p of proxies) expect(await readFile(join(p.dir.path, 'haproxy.cfg'), 'utf8')).not.toContain('10.9.9.9');
  });

  it('a proxy upgraded from the per-daemon choice keeps the writer its HAProxy already writes to when it makes the first record', async () => {
    const prefix = '/components/galera-upgraded';
    for (const n of NODES) await register(n, prefix);
    // The file an earlier version left: `balance first`, every server in the write listener at its
    // weight, so the first one listed (db-a) takes the writes; db-b has the higher priority.
    const upgraded = await startProxy(4, { prefix, firstConfig: (text) => text.replace(/^(\s+server db-[ab] \S+) weight 0$/gm, '$1 weight 1') });
    const made = await eventually('the first record', async () => (await record(`${prefix}/_writer`)) ?? undefined, 15_000);
    expect(made).toMatchObject({ node: NODES[0]!.id, by: 'proxy-4', reason: "no writer record; db-a already takes this HAProxy's writes", version: 1 });
    await allWriteTo('db-a', [upgraded]);
  });
});
