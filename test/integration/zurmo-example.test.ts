import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Etcd3, Lease } from 'etcd3';
import { parseDocument } from 'yaml';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { readHaproxyVersion, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { startWebNode, type WebNode } from '../helpers/web-server.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { runtimeServers, showProc } from '../helpers/runtime.js';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import type { RuntimeServer } from '../../src/plan/types.js';
import { inRotation } from '../../src/plan/admin-state.js';

// examples/zurmo as it ships (config.yaml + haproxy.cfg.njk, only addresses and paths changed) against
// a real etcd and HAProxy, one nginx per web server and simulated Galera nodes, on loopback aliases:
// HAProxy's three listeners on 127.0.0.171 (the example's ports), web servers on .172-.174 and .178
// (port 80), Galera nodes on .175-.177 and .179 (3306, clustercheck 9200).
const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'zurmo');
const FRONT = '127.0.0.171';
const WEB_PORT = 80;
const STATS_PORT = 1936;
const GALERA_PORT = 33306;
const STATS_USER = 'admin';
const STATS_PASSWORD = 'zurmo-stats-secret';
// The seed's TTL: a node that crashes without deregistering leaves etcd this long after.
const LEASE_TTL_S = 10;

interface Tier {
  readonly backend: string;
  readonly prefix: string;
  readonly port: number;
  /** The seed layout's keys for one node. */
  keys(member: Member): Record<string, string>;
}

const WEB: Tier = {
  backend: 'webserver_nodes',
  prefix: '/services/webserver',
  port: 80,
  keys: (m) => ({ service_instance_name: `zurmo_${m.host}`, host: m.host, ip: m.ip, port: '80' }),
};
const GALERA: Tier = {
  backend: 'galera',
  prefix: '/components/galera',
  port: 3306,
  keys: (m) => ({ ip: m.ip, port: '3306', host: m.host }),
};

/** One web server or Galera node: its process and its registration (a lease, like the seed's). */
interface Member {
  readonly tier: Tier;
  readonly ip: string;
  readonly host: string;
  id: string;
  lease: Lease | null;
  running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  crash(): Promise<void>;
}

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
let statsSocket: string;
let configFile: string;
let statusUrl: string;
const members = new Map<string, Member>();
const webNodes: WebNode[] = [];
const galeraNodes = new Map<string, FakeGaleraNode>();

function webMember(host: string, ip: string): Member {
  let node: WebNode | null = null;
  const m: Member = {
    tier: WEB,
    ip,
    host,
    id: randomUUID(),
    lease: null,
    running: false,
    async start() {
      if (node === null) {
        node = await startWebNode({ ip, port: WEB_PORT, dir: join(dir.path, `nginx-${host}`) });
        webNodes.push(node);
      } else {
        await node.restart();
      }
      m.running = true;
    },
    async stop() {
      await node?.stop();
      m.running = false;
    },
    async crash() {
      await node?.fail();
      m.running = false;
    },
  };
  return m;
}

function galeraMember(host: string, ip: string): Member {
  const m: Member = {
    tier: GALERA,
    ip,
    host,
    id: randomUUID(),
    lease: null,
    running: false,
    async start() {
      galeraNodes.set(ip, await startFakeGaleraNode({ ip }));
      m.running = true;
    },
    // A fake node has no graceful stop: by the time it stops it has been drained.
    async stop() {
      await galeraNodes.get(ip)?.close();
      m.running = false;
    },
    async crash() {
      await galeraNodes.get(ip)?.close();
      m.running = false;
    },
  };
  return m;
}

/** Every key of a node in one transaction under a fresh lease (a restarted container is a new uuid). */
async function register(m: Member): Promise<void> {
  m.id = randomUUID();
  const lease = client.lease(LEASE_TTL_S);
  const leaseId = await lease.grant();
  await client.kv.txn({
    compare: [],
    success: Object.entries(m.tier.keys(m)).map(([field, value]) => ({
      request_put: { key: Buffer.from(`${m.tier.prefix}/${m.id}/${field}`), value: Buffer.from(value), lease: leaseId },
    })),
    failure: [],
  });
  m.lease = lease;
}

const servers = (tier: Tier): Promise<RuntimeServer[]> => runtimeServers(statsSocket, tier.backend);

/** What etcd holds for a tier, as `ip:port`, sorted. */
async function registered(tier: Tier): Promise<string[]> {
  const all = await client.getAll().prefix(`${tier.prefix}/`).strings();
  return Object.entries(all)
    .filter(([key]) => key.endsWith('/ip'))
    .map(([key, ip]) => `${ip}:${all[key.replace(/\/ip$/, '/port')] ?? tier.port}`)
    .sort();
}

const addresses = (list: readonly RuntimeServer[]): string[] => list.map((s) => `${s.address}:${s.port}`).sort();

/** Until HAProxy runs exactly these members of the tier, every one of them up and in rotation. */
function untilServing(tier: Tier, want: readonly Member[], timeoutMs = 30_000): Promise<RuntimeServer[]> {
  const expected = want.map((m) => `${m.ip}:${tier.port}`).sort();
  return eventually(
    `${tier.backend} = ${expected.join(', ')}, all up`,
    async () => {
      const got = await servers(tier);
      const ok = JSON.stringify(addresses(got)) === JSON.stringify(expected) && got.every((s) => s.operState === 2 && inRotation(s));
      return ok ? got : undefined;
    },
    timeoutMs,
    100,
  );
}

/** Deregister, wait until HAProxy has drained and deleted the server, then stop. */
async function leave(m: Member): Promise<void> {
  await m.lease?.revoke();
  m.lease = null;
  await eventually(`${m.tier.backend} to drop ${m.ip}`, async () => ((await servers(m.tier)).some((s) => s.address === m.ip) ? undefined : true), 30_000, 50);
  await m.stop();
}

/** A crash: the process dies at once and its lease is no longer kept alive (etcd expires it). */
async function fail(m: Member): Promise<void> {
  m.lease?.release();
  m.lease = null;
  await m.crash();
}

async function enter(m: Member): Promise<void> {
  if (!m.running) await m.start();
  await register(m);
}

// --- load: bounded HTTP and TCP clients through HAProxy's listeners --------------------------------

interface Tally {
  ok: number;
  failed: number;
  errors: string[];
  maxMs: number;
  /** Answers per backend node (from the body or greeting naming it). */
  by: Map<string, number>;
}

const newTally = (): Tally => ({ ok: 0, failed: 0, errors: [], maxMs: 0, by: new Map() });

function record(t: Tally, started: number, error: string | null, node?: string): void {
  t.maxMs = Math.max(t.maxMs, performance.now() - started);
  if (error === null) {
    t.ok += 1;
    if (node !== undefined) t.by.set(node, (t.by.get(node) ?? 0) + 1);
  } else {
    t.failed += 1;
    if (t.errors.length < 20) t.errors.push(error);
  }
}

// A new connection for every request, as a browser behind a NAT would look to HAProxy.
const noKeepAlive = new Agent({ keepAlive: false, maxSockets: Infinity });

function httpGet(t: Tally): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: FRONT, port: WEB_PORT, path: '/', agent: noKeepAlive, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const node = /^web (\S+)\n$/.exec(body)?.[1];
        record(t, started, res.statusCode === 200 && node !== undefined ? null : `HTTP ${res.statusCode}: ${JSON.stringify(body.slice(0, 80))}`, node);
        resolve();
      });
      res.on('error', (err) => {
        record(t, started, `response: ${err.message}`);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', (err) => {
      record(t, started, `request: ${err.message}`);
      resolve();
    });
    req.end();
  });
}

function tcpGreeting(t: Tally): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: FRONT, port: GALERA_PORT });
    let data = '';
    let done = false;
    const finish = (error: string | null, node?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      record(t, started, error, node);
      resolve();
    };
    const timer = setTimeout(() => finish('no greeting within 15 s'), 15_000);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const m = /^fake-galera (\S+)\n/.exec(data);
      if (m?.[1] !== undefined) finish(null, m[1]);
    });
    socket.on('error', (err) => finish(`socket: ${err.message}`));
    socket.on('close', () => finish(`closed without a greeting (${JSON.stringify(data)})`));
  });
}

/** `workers` loops, each one request after the other with a pause; stops when `stop` resolves. */
function runLoad(t: Tally, one: (t: Tally) => Promise<void>, workers: number, pauseMs: number, stop: Promise<void>): Promise<void> {
  let stopping = false;
  void stop.then(() => (stopping = true));
  const loop = async (): Promise<void> => {
    while (!stopping) {
      await one(t);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  return Promise.all(Array.from({ length: workers }, loop)).then(() => undefined);
}

// --- set-up --------------------------------------------------------------------------------------

/** galera_haproxy_updates_total by outcome, from the daemon's /metrics. */
async function updates(): Promise<Record<string, number>> {
  const text = await (await fetch(`${statusUrl}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^galera_haproxy_updates_total\{outcome="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
}

/** Retries and redispatches HAProxy counted per backend (`wretr`, `wredis` of its BACKEND row in `show stat`). */
async function retries(): Promise<Record<string, { retries: number; redispatches: number }>> {
  const lines = (await sendSocketCommand(statsSocket, 'show stat', { timeoutMs: 2000 })).split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const out: Record<string, { retries: number; redispatches: number }> = {};
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[col('svname')] === 'BACKEND' && (f[0] === WEB.backend || f[0] === GALERA.backend)) {
      out[f[0]] = { retries: Number(f[col('wretr')]), redispatches: Number(f[col('wredis')]) };
    }
  }
  return out;
}

const reloadLines = (): number => (watcher?.logs ?? []).filter((e) => e.msg === 'reloading HAProxy' || e.msg === 'HAProxy updated by reload').length;

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-zurmo-');
  etcd = await startEtcd();
  client = etcd.client();
  statsSocket = join(dir.path, 'admin.sock');
  const haproxyCfg = join(dir.path, 'haproxy.cfg');
  const statusPort = await freePort(FRONT);
  statusUrl = `http://${FRONT}:${statusPort}`;

  // The example's files, with only what the test must change: addresses, paths, and a drain bounded
  // for a test (a keep-alive-off client leaves no session behind, so drains end long before it).
  const doc = parseDocument(await readFile(join(EXAMPLE, 'config.yaml'), 'utf8'));
  doc.set('etcd-endpoints', etcd.endpoint);
  doc.set('config', haproxyCfg);
  doc.set('master-socket', join(dir.path, 'master.sock'));
  doc.set('template', join(EXAMPLE, 'haproxy.cfg.njk'));
  doc.set('status-listen', `${FRONT}:${statusPort}`);
  doc.set('drain-timeout', '10s');
  doc.setIn(['set', 'stats_socket'], statsSocket);
  doc.setIn(['set', 'server_state_file'], join(dir.path, 'server-state'));
  doc.setIn(['set', 'stats_listen'], `${FRONT}:${STATS_PORT}`);
  doc.setIn(['set', 'stats_user'], STATS_USER);
  doc.setIn(['set-from-file', 'stats_password'], './stats-password');
  doc.setIn(['services', 0, 'listen'], `${FRONT}:${WEB_PORT}`);
  doc.setIn(['services', 1, 'listen'], `${FRONT}:${GALERA_PORT}`);
  expect(doc.getIn(['services', 0, 'name'])).toBe(WEB.backend);
  expect(doc.getIn(['services', 1, 'name'])).toBe(GALERA.backend);
  configFile = join(dir.path, 'config.yaml');
  await writeFile(configFile, doc.toString());
  await writeFile(join(dir.path, 'stats-password'), `${STATS_PASSWORD}\n`, { mode: 0o600 });
  await copyFile(join(EXAMPLE, 'stats-password.example'), join(dir.path, 'stats-password.example'));

  // Four web servers and four Galera nodes; the fourth of each joins later.
  const web = [['web-a', '127.0.0.172'], ['web-b', '127.0.0.173'], ['web-c', '127.0.0.174'], ['web-d', '127.0.0.178']] as const;
  const db = [['db-1', '127.0.0.175'], ['db-2', '127.0.0.176'], ['db-3', '127.0.0.177'], ['db-4', '127.0.0.179']] as const;
  for (const [host, ip] of web) members.set(host, webMember(host, ip));
  for (const [host, ip] of db) members.set(host, galeraMember(host, ip));
  for (const m of members.values()) await m.start();
  for (const host of ['web-a', 'web-b', 'web-c', 'db-1', 'db-2', 'db-3']) await register(members.get(host)!);

  const first = await runCli(['render', '--config-file', configFile, '--check']);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(haproxyCfg, first.stdout, { mode: 0o640 });
  haproxy = await startHaproxy({ configPath: haproxyCfg, dir: dir.path });
  watcher = startCliDaemon(['watch', '--config-file', configFile]);
  await watcher.waitForLog((e) => e.msg === 'watching etcd');
}, 120_000);

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  for (const m of members.values()) m.lease?.release();
  client?.close();
  await etcd?.destroy();
  for (const n of webNodes) await n.stop();
  for (const n of galeraNodes.values()) await n.close();
  noKeepAlive.destroy();
  await dir?.remove();
});

const member = (host: string): Member => {
  const m = members.get(host);
  if (m === undefined) throw new Error(`no member ${host}`);
  return m;
};

describe(`examples/zurmo with ${readHaproxyVersion().line.split(' - ')[0]}`, () => {
  it('renders the seed layout: stats, frontend localnodes -> webserver_nodes, galera', async () => {
    const text = await readFile(join(dir.path, 'haproxy.cfg'), 'utf8');
    expect(text).toMatch(/^listen stats\n {4}bind 127\.0\.0\.171:1936\n/m);
    expect(text).toContain(`stats auth ${STATS_USER}:${STATS_PASSWORD}`);
    expect(text).toMatch(/^frontend localnodes\n {4}bind 127\.0\.0\.171:80\n/m);
    expect(text).toMatch(/^ {4}default_backend webserver_nodes$/m);
    expect(text).toMatch(/^backend webserver_nodes\n(?: {4}.*\n)*? {4}http-check send meth HEAD uri \/ ver HTTP\/1\.1 hdr Host localhost\n/m);
    expect(text).toMatch(/^listen galera\n {4}bind 127\.0\.0\.171:33306\n/m);
    expect(text).toMatch(/^ {4}default-server check port 9200 /m);
    expect(text).toMatch(/^ {4}server web-a 127\.0\.0\.172:80 weight 1$/m);
    expect(text).toMatch(/^ {4}server db-1 127\.0\.0\.175:3306 weight 1$/m);
    await untilServing(WEB, [member('web-a'), member('web-b'), member('web-c')]);
    await untilServing(GALERA, [member('db-1'), member('db-2'), member('db-3')]);
  });

  it('serves the stats page with the password from the file, and 401 without it', async () => {
    const url = `http://${FRONT}:${STATS_PORT}/`;
    const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const good = await fetch(url, { headers: { authorization: basic(STATS_USER, STATS_PASSWORD) } });
    expect(good.status).toBe(200);
    expect(await good.text()).toContain('webserver_nodes');
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: basic(STATS_USER, 'wrong') } })).status).toBe(401);
  });

  it('web servers and Galera nodes join, leave and fail together under load: no failed request, no reload', async () => {
    const procBefore = await showProc(haproxy.masterSocket);
    const reloadLinesBefore = reloadLines();
    const updatesBefore = await updates();
    const http = newTally();
    const tcp = newTally();
    let endLoad!: () => void;
    const loadEnds = new Promise<void>((r) => (endLoad = r));
    // About 40 HTTP requests and 40 TCP connections a second, each on a new connection.
    const load = Promise.all([runLoad(http, httpGet, 4, 80, loadEnds), runLoad(tcp, tcpGreeting, 4, 80, loadEnds)]);
    const t0 = Date.now();
    try {
      await new Promise((r) => setTimeout(r, 1500));

      // Round 1, both tiers at once: D and 4 join, A and 1 leave (deregister, drain, stop), B and 2
      // crash without deregistering (HAProxy's check takes them out, etcd expires them). C and 3 serve throughout.
      await Promise.all([
        enter(member('web-d')), leave(member('web-a')), fail(member('web-b')),
        enter(member('db-4')), leave(member('db-1')), fail(member('db-2')),
      ]);
      await untilServing(WEB, [member('web-c'), member('web-d')], (LEASE_TTL_S + 15) * 1000);
      await untilServing(GALERA, [member('db-3'), member('db-4')], (LEASE_TTL_S + 15) * 1000);

      // A and 1 come back (new containers: new uuids) and take traffic before round 2.
      await Promise.all([enter(member('web-a')), enter(member('db-1'))]);
      await untilServing(WEB, [member('web-a'), member('web-c'), member('web-d')]);
      await untilServing(GALERA, [member('db-1'), member('db-3'), member('db-4')]);

      // Round 2, mirrored: B and 2 rejoin, C and 3 leave, D and 4 crash. A and 1 serve throughout.
      await Promise.all([
        enter(member('web-b')), leave(member('web-c')), fail(member('web-d')),
        enter(member('db-2')), leave(member('db-3')), fail(member('db-4')),
      ]);
      await untilServing(WEB, [member('web-a'), member('web-b')], (LEASE_TTL_S + 15) * 1000);
      await untilServing(GALERA, [member('db-1'), member('db-2')], (LEASE_TTL_S + 15) * 1000);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      endLoad();
      await load;
    }
    const seconds = (Date.now() - t0) / 1000;
    const procAfter = await showProc(haproxy.masterSocket);
    const updatesAfter = await updates();
    const passes = Object.fromEntries(Object.entries(updatesAfter).map(([outcome, n]) => [outcome, n - (updatesBefore[outcome] ?? 0)]));
    const summary = {
      haproxy: readHaproxyVersion().version,
      seconds: Math.round(seconds),
      http: { ok: http.ok, failed: http.failed, maxMs: Math.round(http.maxMs), by: Object.fromEntries(http.by), errors: http.errors },
      tcp: { ok: tcp.ok, failed: tcp.failed, maxMs: Math.round(tcp.maxMs), by: Object.fromEntries(tcp.by), errors: tcp.errors },
      reloads: { daemonLogLines: reloadLines() - reloadLinesBefore, masterCounter: procAfter.reloads - procBefore.reloads },
      workers: { before: procBefore.workers, after: procAfter.workers },
      passes,
      haproxyRetried: await retries(),
    };
    console.log(`zurmo example: ${JSON.stringify(summary)}`);

    expect(http.errors).toEqual([]);
    expect(tcp.errors).toEqual([]);
    expect(http.failed).toBe(0);
    expect(tcp.failed).toBe(0);
    // Bounded load that really ran and reached every node that served.
    expect(http.ok).toBeGreaterThan(300);
    expect(tcp.ok).toBeGreaterThan(300);
    expect(http.by.size).toBe(4);
    expect(tcp.by.size).toBe(4);
    // Membership churn in either tier is Runtime API work only.
    expect(summary.reloads).toEqual({ daemonLogLines: 0, masterCounter: 0 });
    expect(passes['reload'] ?? 0).toBe(0);
    expect(passes['failed'] ?? 0).toBe(0);
    expect(passes['runtime']).toBeGreaterThanOrEqual(4);
    expect(procAfter.workers).toEqual(procBefore.workers);

    // The end state: HAProxy runs what etcd holds, in both backends, and so does the file.
    for (const tier of [WEB, GALERA]) {
      expect(addresses(await servers(tier))).toEqual(await registered(tier));
    }
    const want = JSON.stringify([...(await registered(WEB)), ...(await registered(GALERA))].sort());
    await eventually(`haproxy.cfg to list ${want}`, async () => {
      const text = await readFile(join(dir.path, 'haproxy.cfg'), 'utf8');
      const listed = (text.match(/^ {4}server \S+ \S+/gm) ?? []).map((l) => l.trim().split(/\s+/)[2]).sort();
      return JSON.stringify(listed) === want ? true : undefined;
    });
  });

  it('exits 0 on SIGTERM', async () => {
    const code = await watcher!.stop('SIGTERM');
    watcher = null;
    expect(code).toBe(0);
  });
});
