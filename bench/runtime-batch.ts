/**
 * What a server change costs through the Runtime API, batched or not, against the reload path, on one
 * HAProxy. Each mode starts from a fresh HAProxy running 3 servers and adds COUNT servers, each with the
 * commands the applier sends for a new checked server (`add server` at weight 0, `enable health`,
 * `enable server`, `set server … health down`, `set server … weight 10`):
 *   - per command: one request (connection) per command;
 *   - per server: one request per server, its commands joined with `;` (the applier before batching);
 *   - batched: pipelined lines on one connection per batch (interactive mode), as the applier does now;
 *   - reload: the file with COUNT + 3 servers, `haproxy -c`, then the master CLI's `reload` until the
 *     new worker lists every server (what the daemon's reload path costs besides its state dump).
 * Every reply is checked. Baselines (the first two modes, and the reload) run in the same run.
 * Usage: npx tsx bench/runtime-batch.ts [--count 1000] [--haproxy-bin haproxy] [--all]
 *   (per-command and per-server modes run up to 2000 servers unless --all)
 * Loopback: HAProxy listens on 127.0.0.250; servers point at 127.1.0.0/16, where nothing listens.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sendSocketBatch, sendSocketCommand } from '../src/apply/haproxy-socket.js';
import { commands, parseServersState, runCommands } from '../src/apply/runtime-commands.js';
import { describeFailures, runBatches, type CommandGroup } from '../src/apply/runtime-batch.js';
import { createMasterCliReloader } from '../src/apply/master-cli-reloader.js';
import { checkConfig } from '../src/check/haproxy-check.js';
import { silentLogger } from '../src/observe/logger.js';
import type { ServerSpec } from '../src/plan/types.js';
import { dynamicBackendConfig, readHaproxyVersion, startHaproxy, type RunningHaproxy } from '../test/helpers/haproxy.js';
import { freePort, tempDir } from '../test/helpers/ports.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const COUNT = Number(arg('--count') ?? 1000);
const HAPROXY_BIN = arg('--haproxy-bin') ?? 'haproxy';
const ALL = args.includes('--all');
const SLOW_MAX = 2000;

const ipFor = (n: number): string => `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;
const spec = (n: number): ServerSpec => ({ backend: 'galera', name: `n${n}`, address: ipFor(n), port: 3306, weight: 10, backup: false });
const seedLines = [0, 1, 2].map((n) => `server seed${n} 127.0.1.${n + 1}:3306 weight 10`);

function render(statsSocket: string, listen: string, servers: number): string {
  const added = Array.from({ length: servers }, (_, n) => `server n${n} ${ipFor(n)}:3306 weight 10`);
  return dynamicBackendConfig({ statsSocket, listen, servers: [...seedLines, ...added] });
}

/** The applier's commands for one new checked server. */
function group(n: number): CommandGroup {
  const s = spec(n);
  return {
    label: `galera/${s.name}`,
    commands: [
      commands.addServer({ ...s, weight: 0 }, ['check', 'inter', '10s', 'rise', '2', 'fall', '2']),
      commands.enableHealth(s),
      commands.enableServer(s),
      commands.setHealth(s, 'down'),
      commands.setWeight(s),
    ],
  };
}

async function serverCount(statsSocket: string): Promise<number> {
  return parseServersState(await sendSocketCommand(statsSocket, 'show servers state galera', { timeoutMs: 30_000 })).length;
}

interface Row {
  readonly mode: string;
  readonly connections: number;
  readonly ms: number;
  readonly msPerServer: number;
  readonly checkMs?: number;
  readonly reloadMs?: number;
}

async function main(): Promise<void> {
  const version = readHaproxyVersion(HAPROXY_BIN);
  const dir = await tempDir('galera-haproxy-runtime-batch-');
  const statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  const listen = `127.0.0.250:${await freePort('127.0.0.250')}`;
  const groups = Array.from({ length: COUNT }, (_, n) => group(n));
  const rows: Row[] = [];
  let haproxy: RunningHaproxy | null = null;
  const fresh = async (): Promise<RunningHaproxy> => {
    await haproxy?.stop();
    await writeFile(configPath, render(statsSocket, listen, 0));
    haproxy = await startHaproxy({ configPath, dir: dir.path, haproxyBin: HAPROXY_BIN });
    return haproxy;
  };
  const timed = async (mode: string, run: () => Promise<number>): Promise<void> => {
    await fresh();
    const started = performance.now();
    const connections = await run();
    const ms = performance.now() - started;
    const count = await serverCount(statsSocket);
    if (count !== COUNT + 3) throw new Error(`${mode}: HAProxy lists ${count} servers, expected ${COUNT + 3}`);
    rows.push({ mode, connections, ms: Math.round(ms), msPerServer: Number((ms / COUNT).toFixed(4)) });
  };
  try {
    const send = (command: string): Promise<string> => sendSocketCommand(statsSocket, command, { timeoutMs: 10_000 });
    if (COUNT <= SLOW_MAX || ALL) {
      await timed('per command (one request each)', async () => {
        for (const g of groups) for (const c of g.commands) await runCommands(send, [c]);
        return COUNT * 5;
      });
      await timed('per server (`;`-joined, the applier before)', async () => {
        for (const g of groups) await runCommands(send, g.commands);
        return COUNT;
      });
    }
    await timed('batched (interactive mode, pipelined)', async () => {
      const outcome = await runBatches((lines) => sendSocketBatch(statsSocket, lines, { timeoutMs: 60_000 }), groups);
      if (outcome.failures.length > 0) throw new Error(describeFailures(outcome.failures));
      return outcome.batches;
    });

    const running = await fresh();
    const text = render(statsSocket, listen, COUNT);
    const started = performance.now();
    const check = await checkConfig({ haproxyBin: HAPROXY_BIN, configText: text, targetPath: configPath, timeoutMs: 120_000 });
    if (!check.ok) throw new Error(`haproxy -c refused the bench config: ${JSON.stringify(check.diagnostics.slice(0, 3))}`);
    await writeFile(configPath, text);
    const checked = performance.now();
    const reloader = createMasterCliReloader({ masterSocket: running.masterSocket, confirmTimeoutMs: 120_000, send: sendSocketCommand, logger: silentLogger() });
    await reloader.reload('bench');
    const deadline = performance.now() + 120_000;
    for (;;) {
      if ((await serverCount(statsSocket).catch(() => -1)) === COUNT + 3) break;
      if (performance.now() > deadline) throw new Error(`the reloaded HAProxy did not list ${COUNT + 3} servers within 120 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const done = performance.now();
    rows.push({
      mode: 'reload (haproxy -c + master CLI reload until listed)',
      connections: 0,
      ms: Math.round(done - started),
      msPerServer: Number(((done - started) / COUNT).toFixed(4)),
      checkMs: Math.round(checked - started),
      reloadMs: Math.round(done - checked),
    });
  } finally {
    await (haproxy as RunningHaproxy | null)?.stop();
    await dir.remove();
  }
  console.log(`HAProxy ${version.version}, ${COUNT} servers added to a backend of 3 (5 commands per server)`);
  console.log('| mode | connections | total | per server |');
  console.log('|---|---|---|---|');
  for (const r of rows) {
    const split = r.checkMs === undefined ? '' : ` (check ${r.checkMs} ms + reload ${r.reloadMs} ms)`;
    console.log(`| ${r.mode} | ${r.connections} | ${r.ms} ms${split} | ${r.msPerServer} ms |`);
  }
  console.log(JSON.stringify({ bench: 'runtime-batch', haproxy: version.version, count: COUNT, rows }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
