/**
 * Planned writer moves under load, single-writer mode, with and without the client hold, in one run:
 *   (a) the default template: a client that arrives while the write listener has no writer (the
 *       `--writer-handover` of each move) waits in HAProxy up to `writer_hold`, then goes on;
 *   (b) the baseline, `writer_hold` empty: HAProxy refuses such a client at once (the behaviour before
 *       the hold).
 * Each mode starts a fresh HAProxy and `watch` in front of three fake Galera nodes, opens new TCP
 * connections through the write listener at RATE per second, and moves the writer SWITCHES times with
 * `galera-haproxy switchover` (one every INTERVAL). It reports the connections refused, the connect-to-
 * greeting latency (a held client's wait shows in the p99 and max), and how long each switchover took
 * until this HAProxy wrote to the new writer.
 * Usage: npx tsx bench/writer-switch.ts [--switches 5] [--rate 200] [--interval 5000] [--hold 2s] [--verbose]
 * Loopback: fake Galera nodes on 127.0.0.161–163 (:3306, clustercheck :9200), the write listener on
 * 127.0.0.164:3306.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../test/helpers/etcd.js';
import { readHaproxyVersion, startHaproxy } from '../test/helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../test/helpers/fake-galera.js';
import { freePort, tempDir } from '../test/helpers/ports.js';
import { runCli, startCliDaemon } from '../test/helpers/cli.js';
import { runtimeServers } from '../test/helpers/runtime.js';
import { inRotation } from '../src/plan/admin-state.js';
import { runLoad, type LoadStats } from './lib/load-generator.js';
import { atMost, formatGoalTable, goalsJson, NO_GOAL, type GoalRow } from './lib/goals.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const SWITCHES = Number(arg('switches', '5'));
const RATE = Number(arg('rate', '200'));
const INTERVAL_MS = Number(arg('interval', '5000'));
const HOLD = arg('hold', '2s');
const NODES = [
  { id: 'node-a', ip: '127.0.0.161' },
  { id: 'node-b', ip: '127.0.0.162' },
  { id: 'node-c', ip: '127.0.0.163' },
];
const LISTEN = '127.0.0.164:3306';

interface ModeResult {
  readonly mode: string;
  readonly hold: string;
  readonly load: LoadStats;
  /** Per switchover: the command's own time, and what it printed about this HAProxy following. */
  readonly switches: { ms: number; followedMs: number | null; code: number | null }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function writable(statsSocket: string): Promise<string[]> {
  return (await runtimeServers(statsSocket, 'galera')).filter((s) => s.operState === 2 && inRotation(s) && s.weight > 0).map((s) => s.name);
}

async function runMode(client: Etcd3, etcdEndpoint: string, mode: string, hold: string): Promise<ModeResult> {
  const prefix = `/bench/writer-switch-${mode}`;
  for (const n of NODES) await client.put(`${prefix}/${n.id}`).value(JSON.stringify({ ip: n.ip, port: 3306, host: n.id }));
  const dir = await tempDir(`galera-haproxy-bench-writer-${mode}-`);
  const statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  const common = [
    '--etcd-endpoints', etcdEndpoint, '--prefix', prefix,
    '--set', 'writer=single', '--set', `writer_hold=${hold}`,
    '--set', `listen=${LISTEN}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--set', 'check_inter=200ms', '--set', 'rise=1', '--set', 'fall=1',
  ];
  const first = await runCli(['render', '--check', ...common]);
  if (first.code !== 0) throw new Error(`render failed: ${first.stderr}`);
  await writeFile(configPath, first.stdout);
  const haproxy = await startHaproxy({ configPath, dir: dir.path });
  const statusPort = await freePort();
  const watcher = startCliDaemon(['watch', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--proxy-id', `bench-${mode}`, '--status-listen', `127.0.0.1:${statusPort}`]);
  const abort = new AbortController();
  let load: Promise<LoadStats> | null = null;
  try {
    await watcher.waitForLog((e) => e.msg === 'watching etcd', 30_000);
    // The first record, proposed by the watcher itself, and every server UP: the load starts on a ready proxy.
    for (let i = 0; ; i += 1) {
      const up = (await runtimeServers(statsSocket, 'galera')).filter((s) => s.operState === 2).length;
      if ((await writable(statsSocket)).length === 1 && up === NODES.length) break;
      if (i >= 200) throw new Error(`${mode}: no single writer with every server UP within 10 s`);
      await sleep(50);
    }
    const [host, port] = LISTEN.split(':') as [string, string];
    const loadStarted = performance.now();
    load = runLoad({ host, port: Number(port), ratePerSecond: RATE, durationMs: SWITCHES * INTERVAL_MS + 3_000, connectionTimeoutMs: 10_000, signal: abort.signal });
    const switches: ModeResult['switches'] = [];
    await sleep(1_000);
    for (let i = 0; i < SWITCHES; i += 1) {
      const current = (await writable(statsSocket))[0];
      if (current === undefined) throw new Error(`${mode}: no writer before switchover ${i + 1}`);
      const target = NODES.find((n) => n.id !== current)!.id;
      const started = performance.now();
      if (args.includes('--verbose')) console.log(`${mode}: switchover ${i + 1} to ${target} at +${(started - loadStarted).toFixed(0)} ms`);
      const moved = await runCli(['switchover', ...common, '--stats-socket', statsSocket, '--proxy-id', 'bench-operator', '--to', target, '--wait', '10s'], { timeoutMs: 30_000 });
      const followed = /writes to \S+ ([\d.]+) (m?s) after the record moved/.exec(moved.stdout);
      switches.push({
        ms: performance.now() - started,
        followedMs: followed === null ? null : Number(followed[1]) * (followed[2] === 's' ? 1000 : 1),
        code: moved.code,
      });
      await sleep(Math.max(0, INTERVAL_MS - (performance.now() - started)));
    }
    return { mode, hold, load: await load, switches };
  } finally {
    // A failed switchover must not leave the load running against a stopped HAProxy.
    abort.abort();
    await load?.catch(() => undefined);
    await watcher.stop();
    await haproxy.stop();
    await dir.remove();
  }
}

const fmt = (ms: number | null): string => (ms === null || !Number.isFinite(ms) ? '—' : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const client = etcd.client();
  const nodes: FakeGaleraNode[] = [];
  const results: ModeResult[] = [];
  try {
    for (const n of NODES) nodes.push(await startFakeGaleraNode({ ip: n.ip }));
    results.push(await runMode(client, etcd.endpoint, 'hold', HOLD));
    results.push(await runMode(client, etcd.endpoint, 'no-hold', ''));
  } finally {
    client.close();
    await Promise.all(nodes.map((n) => n.close()));
    await etcd.destroy();
  }

  console.log(`\nwriter switchovers under load (${readHaproxyVersion().line.split(' - ')[0]}; ${SWITCHES} moves, ${RATE} new connections/s)\n`);
  console.log('| mode | writer_hold | connections | refused | connect p50 / p99 / max | switchovers ok | this HAProxy on the target after the record (median) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    const followed = r.switches.map((s) => s.followedMs).filter((v): v is number => v !== null).sort((a, b) => a - b);
    const median = followed.length === 0 ? null : (followed[Math.floor(followed.length / 2)] ?? null);
    console.log(
      `| ${r.mode === 'hold' ? '(a) hold' : '(b) no hold (baseline)'} | ${r.hold === '' ? 'empty' : r.hold} | ${r.load.attempts} | ${r.load.failed} | ` +
        `${fmt(r.load.latencyMs.p50)} / ${fmt(r.load.latencyMs.p99)} / ${fmt(r.load.latencyMs.max)} | ${r.switches.filter((s) => s.code === 0).length}/${r.switches.length} | ${fmt(median)} |`,
    );
  }
  const [a, b] = results;
  const rows: GoalRow[] = [
    { measure: 'connections refused across the switchovers', value: String(a?.load.failed ?? '—'), baseline: `(b) no hold: ${String(b?.load.failed ?? '—')}`, goal: '= 0', met: atMost(a?.load.failed ?? null, 0) },
    { measure: 'slowest connect (a held client waits the hold)', value: fmt(a?.load.latencyMs.max ?? null), baseline: `(b) ${fmt(b?.load.latencyMs.max ?? null)}`, goal: NO_GOAL, met: null },
  ];
  console.log(`\n${formatGoalTable('goals', rows)}`);
  for (const r of results) if (r.load.failures.length > 0) console.log(`${r.mode} first failures: ${r.load.failures.slice(0, args.includes('--verbose') ? 20 : 3).join('; ')}`);
  console.log(JSON.stringify({ bench: 'writer-switch', switches: SWITCHES, rate: RATE, results: results.map((r) => ({ mode: r.mode, hold: r.hold, attempts: r.load.attempts, failed: r.load.failed, latencyMs: r.load.latencyMs, switches: r.switches })), goals: goalsJson(rows) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
