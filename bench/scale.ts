/**
 * Scale: a burst of key changes, and the daemon's memory.
 *   1. The watcher idles on 3 nodes: its RSS.
 *   2. A burst of BURST puts (flat layout, addresses in 127.1.0.0/16) is written to etcd as fast as etcd
 *      takes them (transactions of 128 puts). Measured: time from the first put, and from the last put,
 *      until HAProxy's runtime lists every server; how many applies (sync passes that changed HAProxy)
 *      it took; the watcher's RSS holding them.
 * Baselines in the same run: the same burst by a watcher started with `--max-runtime-ops 200` (any
 * change past 200 servers by a reload, as before the choice by estimated cost; `--baseline-max-runtime-ops`),
 * and by one `galera-haproxy once` (a single read, render, check and reload), i.e. the best a batch tool
 * could do; for memory, a bare Node process with the same settings after the same idle time.
 * Memory is the watcher's own report (SIGUSR2: RSS, JS heap used and reserved, memory outside the heap),
 * idle, when the burst is live, and 10 s later (once V8's memory reducer has run).
 * With `--services 2` (the default) a second service, a web tier of 2 servers, is configured alongside.
 * The watcher runs with the Node settings of the `galera-haproxy` bin (its first line); `--node-args` runs
 * it with others instead, to compare. `--heap-snapshots DIR` writes idle.heapsnapshot and
 * holding.heapsnapshot there (read them with bench/heap-top.ts); writing a snapshot takes memory of its
 * own, so every RSS figure after the idle one is inflated in such a run.
 * Usage: npx tsx bench/scale.ts [--burst 10000] [--wait MIN:MAX] [--services 1|2] [--baseline-max-runtime-ops 200]
 *   [--node-args "FLAGS"] [--heap-snapshots DIR]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../test/helpers/etcd.js';
import { startHaproxy } from '../test/helpers/haproxy.js';
import { freePort, tempDir } from '../test/helpers/ports.js';
import { deployedNodeArgs, runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../test/helpers/cli.js';
import { sendSocketCommand } from '../src/apply/haproxy-socket.js';
import { parseServersState } from '../src/apply/runtime-commands.js';
import { servicesArg, servicesSetup } from './lib/services-config.js';
import { atMost, formatGoalTable, goalsJson, type GoalRow } from './lib/goals.js';
import { bareNodeRssMb, heapSnapshotArgs, takeHeapSnapshot, watcherMemory, type MemoryFigures } from './lib/watcher-memory.js';

const args = process.argv.slice(2);
const i = args.indexOf('--burst');
const BURST = i >= 0 ? Number(args[i + 1]) : 10_000;
const w = args.indexOf('--wait');
const WAIT = w >= 0 && args[w + 1] !== undefined ? ['--wait', args[w + 1]!] : [];
const PREFIX = '/bench/scale';
const SERVICES = servicesArg(args);
const b = args.indexOf('--baseline-max-runtime-ops');
const BASELINE_MAX_OPS = b >= 0 ? Number(args[b + 1]) : 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nodeArgsAt = args.indexOf('--node-args');
const NODE_ARGS = nodeArgsAt >= 0 ? (args[nodeArgsAt + 1] ?? '').split(/\s+/).filter(Boolean) : deployedNodeArgs();
const h = args.indexOf('--heap-snapshots');
const SNAPSHOTS = h >= 0 ? args[h + 1] : undefined;
const IDLE_MS = 5000;
/** The goals this bench's figures are held to. */
const GOAL = { lastPutToLiveMs: 1000, applies: 2, idleRssMb: 60, holdingRssMb: 120, holdingAt: 10_000 };

const ipFor = (n: number): string => `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;

async function writeBurst(client: Etcd3, count: number, offset: number): Promise<{ firstAt: number; lastAt: number }> {
  const firstAt = performance.now();
  for (let start = 0; start < count; start += 128) {
    const ops = [];
    for (let n = start; n < Math.min(count, start + 128); n++) ops.push(client.put(`${PREFIX}/n${n + offset}`).value(ipFor(n + offset)));
    await client.if(`${PREFIX}/none`, 'Version', '==', 0).then(...ops).commit();
  }
  return { firstAt, lastAt: performance.now() };
}

async function serverCount(statsSocket: string): Promise<number> {
  return parseServersState(await sendSocketCommand(statsSocket, 'show servers state galera', { timeoutMs: 10_000 })).length;
}

async function untilCount(statsSocket: string, want: number, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if ((await serverCount(statsSocket).catch(() => -1)) === want) return performance.now();
    await sleep(5);
  }
  throw new Error(`HAProxy did not list ${want} servers within ${timeoutMs} ms`);
}

const isApply = (e: LogEntry): boolean => typeof e.outcome === 'string' && ['runtime', 'reload'].includes(e.outcome);
const applies = (w: CliDaemon): number => w.logs.filter(isApply).length;

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const client = etcd.client();
  const dir = await tempDir('galera-haproxy-scale-');
  const results: Record<string, number | string> = { burst: BURST, services: SERVICES, nodeArgs: NODE_ARGS.join(' ') };
  const memory: Record<'idle' | 'live' | 'settled', MemoryFigures | null> = { idle: null, live: null, settled: null };
  let bareRssMb = 0;
  let watcher = null as CliDaemon | null;
  const stops: (() => Promise<unknown>)[] = [];
  try {
    for (let n = 0; n < 3; n++) await client.put(`${PREFIX}/seed${n}`).value(`127.0.1.${n + 1}`);
    const listenPort = await freePort();
    const statsSocket = join(dir.path, 'admin.sock');
    const configPath = join(dir.path, 'haproxy.cfg');
    const services = servicesSetup({
      count: SERVICES,
      dir: dir.path,
      etcdEndpoint: etcd.endpoint,
      galeraPrefix: PREFIX,
      galeraListen: `127.0.0.1:${listenPort}`,
      vars: { stats_socket: statsSocket, server_state_file: join(dir.path, 'server-state') },
      webListen: `127.0.0.1:${await freePort()}`,
      webServers: ['127.2.0.1:80', '127.2.0.2:80'],
    });
    await services.register(client);
    const sets = services.args;
    const first = await runCli(['render', ...sets]);
    if (first.code !== 0) throw new Error(first.stderr);
    writeFileSync(configPath, first.stdout);
    const haproxy = await startHaproxy({ configPath, dir: dir.path });
    stops.push(() => haproxy.stop());
    const onceArgs = ['once', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket];
    const backToSeeds = async (): Promise<void> => {
      await client.delete().prefix(`${PREFIX}/n`);
      const reset = await runCli(onceArgs, { timeoutMs: 120_000 });
      if (reset.code !== 0) throw new Error(`once failed: ${reset.stderr}`);
      await untilCount(statsSocket, 3);
    };
    /** A watcher takes the burst; its figures go under `key` (the first phase keeps the bare names). */
    /** `measured`: the phase whose memory is reported (the baseline's would be the same process's). */
    const watcherPhase = async (extra: readonly string[], key: (name: string) => string, measured: boolean): Promise<void> => {
      watcher = startCliDaemon(
        ['watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--min-reload-interval', '0', ...WAIT, ...extra],
        { nodeArgs: [...NODE_ARGS, ...(measured && SNAPSHOTS !== undefined ? heapSnapshotArgs(SNAPSHOTS) : [])] },
      );
      const w = watcher;
      stops.push(() => w.stop());
      await w.waitForLog((e) => e.msg === 'watching etcd');
      await sleep(IDLE_MS);
      if (measured) {
        memory.idle = await watcherMemory(w);
        bareRssMb = await bareNodeRssMb(NODE_ARGS, IDLE_MS);
        if (SNAPSHOTS !== undefined) await takeHeapSnapshot(w, SNAPSHOTS, 'idle');
      }

      const before = applies(w);
      const { firstAt, lastAt } = await writeBurst(client, BURST, 0);
      const doneAt = await untilCount(statsSocket, BURST + 3);
      results[key('writeMs')] = Math.round(lastAt - firstAt);
      results[key('firstPutToLiveMs')] = Math.round(doneAt - firstAt);
      results[key('lastPutToLiveMs')] = Math.round(doneAt - lastAt);
      // HAProxy lists the servers before the daemon logs the pass (it logs after the reload is confirmed):
      // count applies once that pass's line is in, or a busy machine makes the last apply go uncounted.
      // `servers` counts every service's servers (the web tier's too with --services 2).
      await w.waitForLog((e) => isApply(e) && typeof e.servers === 'number' && e.servers >= BURST + 3, 120_000);
      const count = applies(w) - before;
      results[key('applies')] = count;
      results[key('passes')] = w.logs
        .filter((e) => typeof e.outcome === 'string' && e.outcome !== 'noop')
        .slice(-count)
        .map((e) => `${String(e.outcome)} ${String(e.servers)} servers ${String(e.durationMs)} ms`)
        .join('; ');
      // A runtime apply logs its decision; a reload (by cost or otherwise) logs its reasons.
      results[key('decisions')] = w.logs
        .flatMap((e) => (typeof e.decision === 'string' ? [e.decision] : e.msg === 'reloading HAProxy' && Array.isArray(e.reasons) ? [e.reasons.map(String).join(', ')] : []))
        .join('; ');
      if (measured) {
        memory.live = await watcherMemory(w);
        await sleep(10_000);
        memory.settled = await watcherMemory(w);
        if (SNAPSHOTS !== undefined) await takeHeapSnapshot(w, SNAPSHOTS, 'holding');
      }
      await w.stop();
    };
    await watcherPhase([], (name) => name, true);
    await backToSeeds();
    await watcherPhase(['--max-runtime-ops', String(BASELINE_MAX_OPS)], (name) => `baseline${name[0]!.toUpperCase()}${name.slice(1)}`, false);

    // Baseline: the same burst applied by a single batch pass (back to the 3 seeds first).
    await backToSeeds();
    const { lastAt: lastBatch } = await writeBurst(client, BURST, 0);
    const t0 = performance.now();
    const once = await runCli(onceArgs, { timeoutMs: 120_000 });
    if (once.code !== 0) throw new Error(`once failed: ${once.stderr}`);
    const batchDone = await untilCount(statsSocket, BURST + 3);
    results.batchOnceMs = Math.round(batchDone - t0);
    results.batchLastPutToLiveMs = Math.round(batchDone - lastBatch);
  } catch (err) {
    if (watcher) for (const e of watcher.logs.slice(-25)) console.error(JSON.stringify(e).slice(0, 400));
    throw err;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    client.close();
    await etcd.destroy();
    await dir.remove();
  }
  console.log('');
  console.log(`services configured: ${SERVICES}${SERVICES === 2 ? ' (Galera, and a web tier of 2 servers)' : ''}`);
  console.log(`watcher's Node settings: ${NODE_ARGS.length === 0 ? 'none' : NODE_ARGS.join(' ')}`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| burst of ${BURST} puts: etcd write time | ${results.writeMs} ms |`);
  console.log(`| first put → all ${BURST} live in HAProxy | ${results.firstPutToLiveMs} ms |`);
  console.log(`| last put → all live | ${results.lastPutToLiveMs} ms |`);
  console.log(`| applies for the burst | ${results.applies} (${results.passes}) |`);
  console.log(`| runtime/reload decisions | ${results.decisions} |`);
  console.log(`| baseline \`--max-runtime-ops ${BASELINE_MAX_OPS}\`: last put → all live | ${results.baselineLastPutToLiveMs} ms |`);
  console.log(`| baseline \`--max-runtime-ops ${BASELINE_MAX_OPS}\`: applies | ${results.baselineApplies} (${results.baselinePasses}) |`);
  console.log(`| baseline: the same burst by one \`once\` pass (process start → live) | ${results.batchOnceMs} ms |`);
  console.log('');
  console.log('| watcher memory (MB) | RSS | JS heap used | JS heap reserved | outside the heap (external) |');
  console.log('|---|---|---|---|---|');
  const memoryRow = (label: string, m: MemoryFigures | null): string => (m === null ? `| ${label} | — | — | — | — |` : `| ${label} | ${m.rssMb} | ${m.heapUsedMb} | ${m.heapTotalMb} | ${m.externalMb} |`);
  console.log(memoryRow('idle on 3 nodes', memory.idle));
  console.log(memoryRow(`holding ${BURST + 3} nodes, when the burst is live`, memory.live));
  console.log(memoryRow(`holding ${BURST + 3} nodes, 10 s later`, memory.settled));
  console.log(`| baseline: bare Node, same settings, idle | ${bareRssMb} | | | |`);
  console.log('');
  const full = BURST >= GOAL.holdingAt;
  const atFull = (value: number | undefined, limit: number): boolean | null => (full ? atMost(value ?? null, limit) : null);
  const below = `--burst ${BURST} < ${GOAL.holdingAt}`;
  const holdingRow = (when: string, m: MemoryFigures | null): GoalRow => ({
    measure: `watcher RSS holding ${BURST + 3} nodes, ${when}`,
    value: `${m?.rssMb ?? '—'} MB`,
    baseline: `bare Node ${bareRssMb} MB`,
    goal: `≤ ${GOAL.holdingRssMb} MB at ${GOAL.holdingAt.toLocaleString('en')}`,
    met: atFull(m?.rssMb, GOAL.holdingRssMb),
    note: below,
  });
  const goals: GoalRow[] = [
    {
      measure: 'burst: last put → all live',
      value: `${results.lastPutToLiveMs} ms`,
      baseline: `one \`once\` pass ${results.batchLastPutToLiveMs} ms`,
      goal: `≤ ${GOAL.lastPutToLiveMs} ms`,
      met: atFull(Number(results.lastPutToLiveMs), GOAL.lastPutToLiveMs),
      note: below,
    },
    { measure: 'burst: applies', value: String(results.applies), baseline: 'one `once` pass: 1', goal: `≤ ${GOAL.applies}`, met: atMost(Number(results.applies), GOAL.applies) },
    { measure: 'watcher RSS idle on 3 nodes', value: `${memory.idle?.rssMb ?? '—'} MB`, baseline: `bare Node ${bareRssMb} MB`, goal: `≤ ${GOAL.idleRssMb} MB`, met: atMost(memory.idle?.rssMb ?? null, GOAL.idleRssMb) },
    holdingRow('when the burst is live', memory.live),
    holdingRow('10 s later', memory.settled),
  ];
  console.log(formatGoalTable('goal', goals));
  console.log(JSON.stringify({ bench: 'scale', ...results, memory, bareNodeRssMb: bareRssMb, goals: goalsJson(goals) }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
