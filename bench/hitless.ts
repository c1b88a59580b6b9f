/**
 * Membership churn under load, three ways in one run:
 *   (a) galera-haproxy, runtime path (defaults)
 *   (b) galera-haproxy, every change a confirmed seamless reload (--no-runtime-api)
 *   (c) the confd way: render + haproxy -c + `haproxy -sf <old pid>` (no fd transfer) on every change
 * Backends are fake Galera nodes on 127.0.0.21–27. A load generator opens new TCP connections through
 * HAProxy at 250/s and checks each is greeted by a backend. Meanwhile CHANGES membership changes go through
 * etcd (never fewer than 2 live nodes), one at a time, each timed from the etcd put to HAProxy's runtime.
 * Also measured, because reloads hurt in ways that are not failed connections:
 *   - a registered node whose clustercheck answers 503 all along (a donor): connections it received;
 *   - long-lived sessions (one more opened every 50 changes, held to the end): HAProxy processes left
 *     alive at the end and their total RSS.
 * With `--services 2` (the default) galera-haproxy (a, b) also runs a second service, a web tier over the
 * steady nodes' HTTP port; the confd way (c) renders the Galera section alone.
 * The floor under put→live, measured in the same run for every change: the etcd put's round trip, etcd's
 * watch delivery (put sent → the event at a plain etcd3 watcher in this process, on its own connection
 * as the daemon has), and one Runtime API request (a `show servers state` round trip once the change is
 * live). put→live itself starts when the put is acknowledged.
 * `--gap MS` (default 0) waits that long between one change being live and the next put. With 0 every put
 * lands within the daemon's `--wait` MIN after its previous pass and is coalesced (waits MIN); a gap longer
 * than MIN measures a daemon that is idle when the change comes, as it is between real membership changes.
 * Last, the goal table: put→live p50/p99 of (a) against the floor of the same changes (after the put's
 * ack: the rest of the watch delivery, plus one Runtime API request), and (a)'s p99 against (c)'s.
 * The watcher runs with the Node settings of the `galera-haproxy` bin (its first line); `--node-args`
 * runs it with others instead, to compare.
 * Usage: npx tsx bench/hitless.ts [--changes 1000] [--modes a,b,c] [--services 1|2] [--node-args "FLAGS"] [--gap 0]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../test/helpers/etcd.js';
import { startHaproxy } from '../test/helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../test/helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../test/helpers/ports.js';
import { deployedNodeArgs, runCli, startCliDaemon } from '../test/helpers/cli.js';
import { sendSocketCommand } from '../src/apply/haproxy-socket.js';
import { parseServersState } from '../src/apply/runtime-commands.js';
import { showProc } from '../test/helpers/runtime.js';
import { inRotation } from '../src/plan/admin-state.js';
import { percentile, runLoad, type LoadStats } from './lib/load-generator.js';
import { decodeCluster } from '../src/model/decode-cluster.js';
import { createRenderer } from '../src/render/render-config.js';
import { servicesArg, servicesSetup } from './lib/services-config.js';
import { NO_GOAL, atLeast, atMost, formatGoalTable, goalsJson, type GoalRow } from './lib/goals.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const CHANGES = Number(arg('changes', '1000'));
const MODES = arg('modes', 'a,b,c').split(',');
const SERVICES = servicesArg(args);
const GAP_MS = Number(arg('gap', '0'));
const NODE_ARGS = args.includes('--node-args') ? arg('node-args', '').split(/\s+/).filter(Boolean) : deployedNodeArgs();
/** The goals this bench's figures are held to. */
const GOAL = { p99Ms: 10, timesConfd: 10 };
const RATE = 250;
const STEADY = ['127.0.0.21', '127.0.0.22'];
const DONOR = '127.0.0.23';
const CHURN = ['127.0.0.24', '127.0.0.25', '127.0.0.26', '127.0.0.27'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type FloorPart = 'putAck' | 'watchDelivery' | 'runtimeRequest';

interface ModeResult {
  mode: string;
  changes: number;
  connections: number;
  failed: number;
  reloads: number;
  latencyMs: { p50: number; p99: number; max: number };
  floorMs: Record<FloorPart, { p50: number; p99: number }>;
  /** Per change: what was left of the watch delivery after the put's ack, plus one Runtime API request. */
  floorAfterAckMs: { p50: number; p99: number };
  toDonor: number;
  haproxyProcesses: number;
  haproxyRssMb: number;
  seconds: number;
  failures: string[];
}

/** HAProxy processes whose command line names this run's config, and their total RSS. */
function haproxyProcesses(configPath: string): { count: number; rssMb: number } {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', configPath], { encoding: 'utf8' });
  } catch {
    return { count: 0, rssMb: 0 };
  }
  let count = 0;
  let rssKb = 0;
  for (const pid of out.split('\n').filter(Boolean)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (!/^Name:\s+haproxy/m.test(status)) continue;
      count += 1;
      rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { count, rssMb: rssKb / 1024 };
}

// Polled every millisecond while a change is timed, so only `show servers state` (one request; the
// shared runtimeServers helper also reads `show stat`).
async function runtimeState(statsSocket: string): Promise<Map<string, { serving: boolean }>> {
  const servers = parseServersState(await sendSocketCommand(statsSocket, 'show servers state galera', { timeoutMs: 2000 }));
  return new Map(servers.map((s) => [s.address, { serving: inRotation(s) }]));
}

/** Waits until HAProxy's runtime shows `ip` serving (present) or out of rotation (gone, drain or maint). */
async function untilLive(statsSocket: string, ip: string, present: boolean, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const state = await runtimeState(statsSocket).catch(() => null);
    if (state) {
      const s = state.get(ip);
      const serving = s?.serving === true;
      if (serving === present) return performance.now() - t0;
    }
    await sleep(1);
  }
  throw new Error(`${ip} did not become ${present ? 'present' : 'absent'} in HAProxy within ${timeoutMs} ms`);
}

function openLongSession(port: number, sessions: Socket[]): void {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  sessions.push(socket);
}

interface Target {
  listenPort: number;
  statsSocket: string;
  configPath: string;
  reloads(): Promise<number>;
  stop(): Promise<void>;
}

/** Times of the next watch event per key, from a watcher of its own (not the client that puts). */
async function watchArrivals(watchClient: Etcd3, prefix: string): Promise<{ next(key: string): Promise<number>; cancel(): Promise<void> }> {
  const waiting = new Map<string, (at: number) => void>();
  const arrived = (key: Buffer | Uint8Array | string | null | undefined): void => {
    const at = performance.now();
    const k = key === null || key === undefined ? '' : Buffer.from(key).toString();
    waiting.get(k)?.(at);
    waiting.delete(k);
  };
  const watcher = await watchClient.watch().prefix(`${prefix}/`).create();
  watcher.on('put', (kv) => arrived(kv.key));
  watcher.on('delete', (kv) => arrived(kv.key));
  watcher.on('error', () => undefined);
  return {
    next: (key) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no watch event for ${key} within 10 s`)), 10_000);
        waiting.set(key, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      }),
    cancel: () => watcher.cancel(),
  };
}

/** One Runtime API request, timed: the same `show servers state` the daemon and the poll send. */
async function timeRuntimeRequest(statsSocket: string): Promise<number> {
  const t0 = performance.now();
  await sendSocketCommand(statsSocket, 'show servers state galera', { timeoutMs: 2000 });
  return performance.now() - t0;
}

async function churn(name: string, client: Etcd3, watchClient: Etcd3, prefix: string, target: Target, donor: FakeGaleraNode): Promise<ModeResult> {
  const started = performance.now();
  const donorBefore = donor.connections();
  const reloadsBefore = await target.reloads();
  const abort = new AbortController();
  const load = runLoad({ host: '127.0.0.1', port: target.listenPort, ratePerSecond: RATE, durationMs: 30 * 60_000, signal: abort.signal });
  const sessions: Socket[] = [];
  const latencies: number[] = [];
  const floor: Record<FloorPart, number[]> = { putAck: [], watchDelivery: [], runtimeRequest: [] };
  const live = new Set<string>();
  const arrivals = await watchArrivals(watchClient, prefix);
  let stats: LoadStats;
  try {
    for (let i = 0; i < CHANGES; i++) {
      if (i % 50 === 0) openLongSession(target.listenPort, sessions);
      if (GAP_MS > 0) await sleep(GAP_MS);
      const ip = CHURN[Math.floor(Math.random() * CHURN.length)]!;
      const key = `${prefix}/${ip.replaceAll('.', '-')}`;
      const delivered = arrivals.next(key);
      const sent = performance.now();
      if (live.has(ip)) {
        await client.delete().key(key);
        floor.putAck.push(performance.now() - sent);
        live.delete(ip);
        latencies.push(await untilLive(target.statsSocket, ip, false));
      } else {
        await client.put(key).value(ip);
        floor.putAck.push(performance.now() - sent);
        live.add(ip);
        latencies.push(await untilLive(target.statsSocket, ip, true));
      }
      floor.watchDelivery.push((await delivered) - sent);
      floor.runtimeRequest.push(await timeRuntimeRequest(target.statsSocket));
    }
  } finally {
    abort.abort();
    stats = await load;
    await arrivals.cancel();
  }
  const procs = haproxyProcesses(target.configPath);
  for (const s of sessions) s.destroy();
  const reloads = (await target.reloads()) - reloadsBefore;
  for (const ip of live) await client.delete().key(`${prefix}/${ip.replaceAll('.', '-')}`);
  latencies.sort((a, b) => a - b);
  const spread = (xs: number[]): { p50: number; p99: number } => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  return {
    mode: name,
    changes: CHANGES,
    connections: stats.attempts,
    failed: stats.failed,
    reloads,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 },
    floorMs: { putAck: spread(floor.putAck), watchDelivery: spread(floor.watchDelivery), runtimeRequest: spread(floor.runtimeRequest) },
    floorAfterAckMs: spread(floor.watchDelivery.map((delivered, i) => Math.max(0, delivered - floor.putAck[i]!) + floor.runtimeRequest[i]!)),
    toDonor: donor.connections() - donorBefore,
    haproxyProcesses: procs.count,
    haproxyRssMb: procs.rssMb,
    seconds: (performance.now() - started) / 1000,
    failures: stats.failures.slice(0, 5),
  };
}

async function seed(client: Etcd3, prefix: string): Promise<void> {
  for (const ip of [...STEADY, DONOR]) await client.put(`${prefix}/${ip.replaceAll('.', '-')}`).value(ip);
}

function commonSets(dir: TempDir, listenPort: number): string[] {
  return [
    '--set', `listen=127.0.0.1:${listenPort}`,
    '--set', `stats_socket=${join(dir.path, 'admin.sock')}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--set', 'check_inter=1s',
  ];
}

async function galeraHaproxyTarget(client: Etcd3, etcdEndpoint: string, prefix: string, runtimeApi: boolean): Promise<Target> {
  const dir = await tempDir('galera-haproxy-bench-');
  const listenPort = await freePort();
  const configPath = join(dir.path, 'haproxy.cfg');
  const vars = Object.fromEntries(commonSets(dir, listenPort).filter((_, i) => i % 2 === 1).map((kv) => kv.split('=') as [string, string]));
  delete vars['listen'];
  const services = servicesSetup({
    count: SERVICES,
    dir: dir.path,
    etcdEndpoint,
    galeraPrefix: prefix,
    galeraListen: `127.0.0.1:${listenPort}`,
    vars,
    webListen: `127.0.0.1:${await freePort()}`,
    webServers: STEADY.map((ip) => `${ip}:9200`),
  });
  await services.register(client);
  const sets = services.args;
  const first = await runCli(['render', '--check', ...sets]);
  if (first.code !== 0) throw new Error(`render failed: ${first.stderr}`);
  writeFileSync(configPath, first.stdout);
  const haproxy = await startHaproxy({ configPath, dir: dir.path });
  const statsSocket = join(dir.path, 'admin.sock');
  await untilLive(statsSocket, DONOR, true).catch(() => undefined);
  const watcher = startCliDaemon([
    'watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket,
    '--log-level', 'warn', '--drain-timeout', '1s',
    ...(runtimeApi ? [] : ['--no-runtime-api', '--min-reload-interval', '0']),
  ], { nodeArgs: NODE_ARGS });
  await sleep(1500);
  return {
    listenPort,
    statsSocket,
    configPath,
    reloads: async () => (await showProc(haproxy.masterSocket)).reloads,
    stop: async () => {
      await watcher.stop();
      await haproxy.stop();
      await dir.remove();
    },
  };
}

/** confd's loop, done as quickly as confd could: on every etcd event render, check, and `-sf` reload. */
async function confdTarget(client: Etcd3, prefix: string): Promise<Target> {
  const dir = await tempDir('galera-haproxy-bench-confd-');
  const listenPort = await freePort();
  const configPath = join(dir.path, 'haproxy.cfg');
  const pidFile = join(dir.path, 'haproxy.pid');
  const statsSocket = join(dir.path, 'admin.sock');
  const vars = Object.fromEntries(commonSets(dir, listenPort).filter((_, i) => i % 2 === 1).map((kv) => kv.split('=') as [string, string]));
  const renderer = createRenderer({ vars });
  let reloads = 0;
  const renderNow = async (): Promise<string> => {
    const kvs = Object.entries(await client.getAll().prefix(`${prefix}/`).strings()).map(([key, value]) => ({ key, value }));
    // confd's haproxy runs as a plain daemon: no master-worker, no listener hand-over.
    return renderer
      .render(decodeCluster(prefix, kvs), { revision: 'confd' })
      .replace(/^\s*master-worker\s*$/m, '')
      .replace(' expose-fd listeners', '');
  };
  const start = (extra: string[]): void => {
    execFileSync('haproxy', ['-D', '-f', configPath, '-p', pidFile, ...extra], { stdio: 'ignore' });
  };
  writeFileSync(configPath, await renderNow());
  start([]);
  let busy = false;
  let again = false;
  let stopped = false;
  let inflight: Promise<void> = Promise.resolve();
  const reloadNow = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    if (stopped) return;
    busy = true;
    let done = (): void => undefined;
    inflight = new Promise((resolve) => (done = resolve));
    try {
      await reloadLoop();
    } finally {
      busy = false;
      done();
    }
  };
  const reloadLoop = async (): Promise<void> => {
    do {
      again = false;
      const staged = `${configPath}.staged`;
      writeFileSync(staged, await renderNow());
      execFileSync('haproxy', ['-c', '-f', staged], { stdio: 'ignore' });
      execFileSync('mv', [staged, configPath]);
      const old = readFileSync(pidFile, 'utf8').trim().split(/\s+/);
      start(['-sf', ...old]);
      reloads += 1;
    } while (again && !stopped);
  };
  const watcher = await client.watch().prefix(`${prefix}/`).create();
  watcher.on('put', () => void reloadNow());
  watcher.on('delete', () => void reloadNow());
  watcher.on('error', () => undefined);
  await sleep(1500);
  return {
    listenPort,
    statsSocket,
    configPath,
    reloads: async () => reloads,
    stop: async () => {
      // A reload in flight would start one more HAProxy after the kill: let it finish first, then kill
      // every process of this config (old workers still soft-stopping included) until none is left.
      stopped = true;
      await watcher.cancel();
      await inflight;
      for (let attempt = 0; attempt < 50; attempt += 1) {
        try {
          execFileSync('pkill', ['-f', configPath]);
        } catch {
          break; // pkill exits 1 when no process matched: none left
        }
        await sleep(100);
      }
      await dir.remove();
    },
  };
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const client = etcd.client();
  const watchClient = etcd.client();
  const nodes: FakeGaleraNode[] = [];
  const results: ModeResult[] = [];
  try {
    for (const ip of [...STEADY, DONOR, ...CHURN]) nodes.push(await startFakeGaleraNode({ ip, healthy: ip !== DONOR, holdConnections: true }));
    const donor = nodes[STEADY.length]!;
    const modes: Record<string, { name: string; make: (prefix: string) => Promise<Target> }> = {
      a: { name: '(a) galera-haproxy runtime', make: (p) => galeraHaproxyTarget(client, etcd.endpoint, p, true) },
      b: { name: '(b) galera-haproxy reload', make: (p) => galeraHaproxyTarget(client, etcd.endpoint, p, false) },
      c: { name: '(c) confd way (-sf)', make: (p) => confdTarget(client, p) },
    };
    for (const key of MODES) {
      const mode = modes[key];
      if (!mode) throw new Error(`unknown mode ${key}; use a, b, c`);
      const prefix = `/bench/${key}`;
      await seed(client, prefix);
      const target = await mode.make(prefix);
      try {
        process.stderr.write(`${mode.name}: ${CHANGES} changes at ${RATE} new connections/s ...\n`);
        results.push(await churn(mode.name, client, watchClient, prefix, target, donor));
      } finally {
        await target.stop();
      }
    }
  } finally {
    for (const n of nodes) await n.close();
    client.close();
    watchClient.close();
    await etcd.destroy();
  }
  const f = (n: number): string => n.toFixed(1);
  console.log('');
  console.log(`services configured in (a) and (b): ${SERVICES}${SERVICES === 2 ? ' (Galera, and a web tier over the steady nodes)' : ''}`);
  if (GAP_MS > 0) console.log(`gap between a change being live and the next put: ${GAP_MS} ms (the daemon is idle when each change comes)`);
  console.log('| mode | changes | new conns | failed | reloads | put→live p50 / p99 / max (ms) | conns to a 503 node | haproxy procs at end | their RSS (MB) | seconds |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.mode} | ${r.changes} | ${r.connections} | ${r.failed} | ${r.reloads} | ${f(r.latencyMs.p50)} / ${f(r.latencyMs.p99)} / ${f(r.latencyMs.max)} | ${r.toDonor} | ${r.haproxyProcesses} | ${f(r.haproxyRssMb)} | ${f(r.seconds)} |`);
  }
  console.log('');
  console.log('| mode | put→live p50 / p99 (ms) | floor: etcd put acked | floor: etcd watch delivery (put sent → event) | floor: one Runtime API request |');
  console.log('|---|---|---|---|---|');
  const pp = (x: { p50: number; p99: number }): string => `${f(x.p50)} / ${f(x.p99)}`;
  for (const r of results) {
    console.log(`| ${r.mode} | ${pp(r.latencyMs)} | ${pp(r.floorMs.putAck)} | ${pp(r.floorMs.watchDelivery)} | ${pp(r.floorMs.runtimeRequest)} |`);
  }
  const a = results.find((r) => r.mode.startsWith('(a)'));
  const c = results.find((r) => r.mode.startsWith('(c)'));
  if (a && c && a.latencyMs.p99 > 0) console.log(`\np99 put→live: runtime path is ${(c.latencyMs.p99 / a.latencyMs.p99).toFixed(1)}× faster than the confd way`);
  for (const r of results) if (r.failures.length > 0) console.log(`${r.mode} first failures: ${r.failures.join(' | ')}`);
  console.log(`\nwatcher's Node settings: ${NODE_ARGS.length === 0 ? 'none' : NODE_ARGS.join(' ')}`);
  const notRun = (mode: string): string => `mode ${mode} not run; --modes a,c`;
  const times = a && c && a.latencyMs.p99 > 0 ? c.latencyMs.p99 / a.latencyMs.p99 : null;
  const floorOf = (which: 'p50' | 'p99'): string => (a ? `floor ${f(a.floorAfterAckMs[which])} ms (watch delivery after the ack + one Runtime API request)` : '—');
  const goals: GoalRow[] = [
    { measure: '(a) put→live p50', value: a ? `${f(a.latencyMs.p50)} ms` : '—', baseline: floorOf('p50'), goal: NO_GOAL, met: null },
    { measure: '(a) put→live p99', value: a ? `${f(a.latencyMs.p99)} ms` : '—', baseline: floorOf('p99'), goal: `≤ ${GOAL.p99Ms} ms`, met: atMost(a?.latencyMs.p99 ?? null, GOAL.p99Ms), note: notRun('a') },
    {
      measure: 'p99 put→live, confd way ÷ (a)',
      value: times === null ? '—' : `${times.toFixed(1)}×`,
      baseline: c ? `(c) confd way p99 ${f(c.latencyMs.p99)} ms` : '—',
      goal: `≥ ${GOAL.timesConfd}×`,
      met: atLeast(times, GOAL.timesConfd),
      note: notRun(a ? 'c' : 'a'),
    },
  ];
  console.log(formatGoalTable('goal', goals));
  console.log(JSON.stringify({ bench: 'hitless', rate: RATE, services: SERVICES, gapMs: GAP_MS, nodeArgs: NODE_ARGS.join(' '), results, goals: goalsJson(goals) }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
