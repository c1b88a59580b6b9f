/**
 * Scale: a burst of key changes, and the daemon's memory.
 *   1. The watcher idles on 3 nodes: its RSS.
 *   2. A burst of BURST puts (flat layout, addresses in 127.1.0.0/16) is written to etcd as fast as etcd
 *      takes them (transactions of 128 puts). Measured: time from the first put, and from the last put,
 *      until HAProxy's runtime lists every server; how many applies (sync passes that changed HAProxy)
 *      it took; the watcher's RSS holding them.
 * Baselines in the same run: the same burst by a watcher started with `--max-runtime-ops 200` (any
 * change past 200 servers by a reload, as before the choice by estimated cost; `--baseline-max-runtime-ops`),
 * and by one `galera-haproxy once` (a single read, render, check and reload), i.e. the best a batch tool could do.
 * With `--services 2` (the default) a second service, a web tier of 2 servers, is configured alongside.
 * Usage: npx tsx bench/scale.ts [--burst 10000] [--wait MIN:MAX] [--services 1|2] [--baseline-max-runtime-ops 200]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../test/helpers/etcd.js';
import { startHaproxy } from '../test/helpers/haproxy.js';
import { freePort, tempDir } from '../test/helpers/ports.js';
import { runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../test/helpers/cli.js';
import { sendSocketCommand } from '../src/apply/haproxy-socket.js';
import { parseServersState } from '../src/apply/runtime-commands.js';
import { servicesArg, servicesSetup } from './lib/services-config.js';

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

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
}

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
  const results: Record<string, number | string> = { burst: BURST, services: SERVICES };
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
    const watcherPhase = async (extra: readonly string[], key: (name: string) => string): Promise<void> => {
      watcher = startCliDaemon(['watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--min-reload-interval', '0', ...WAIT, ...extra]);
      const w = watcher;
      stops.push(() => w.stop());
      await w.waitForLog((e) => e.msg === 'watching etcd');
      await sleep(5000);
      results[key('idleRssMb')] = Number(rssMb(w.child.pid!).toFixed(1));

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
      results[key('decisions')] = w.logs
        .filter((e) => typeof e.decision === 'string')
        .map((e) => String(e.decision))
        .join('; ');
      results[key('holdingRssMb')] = Number(rssMb(w.child.pid!).toFixed(1));
      await w.stop();
    };
    await watcherPhase([], (name) => name);
    await backToSeeds();
    await watcherPhase(['--max-runtime-ops', String(BASELINE_MAX_OPS)], (name) => `baseline${name[0]!.toUpperCase()}${name.slice(1)}`);

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
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| watcher RSS, idle on 3 nodes | ${results.idleRssMb} MB |`);
  console.log(`| burst of ${BURST} puts: etcd write time | ${results.writeMs} ms |`);
  console.log(`| first put → all ${BURST} live in HAProxy | ${results.firstPutToLiveMs} ms |`);
  console.log(`| last put → all live | ${results.lastPutToLiveMs} ms |`);
  console.log(`| applies for the burst | ${results.applies} (${results.passes}) |`);
  console.log(`| runtime/reload decisions | ${results.decisions} |`);
  console.log(`| baseline \`--max-runtime-ops ${BASELINE_MAX_OPS}\`: last put → all live | ${results.baselineLastPutToLiveMs} ms |`);
  console.log(`| baseline \`--max-runtime-ops ${BASELINE_MAX_OPS}\`: applies | ${results.baselineApplies} (${results.baselinePasses}) |`);
  console.log(`| watcher RSS holding ${BURST + 3} nodes | ${results.holdingRssMb} MB |`);
  console.log(`| baseline: the same burst by one \`once\` pass (process start → live) | ${results.batchOnceMs} ms |`);
  console.log(JSON.stringify({ bench: 'scale', ...results }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
