import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatusReport } from '../../src/observe/status-server.js';
import { runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { ETCD_FAULTS, runRounds, startFaultWorld, type Fault, type FaultWorld, type RoundResult } from './etcd-rounds.js';
import { accountDaemon, type DaemonPass } from './ledger.js';
import { HaproxySink, ServingMonitor } from './haproxy-sink.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A node value in 127.0.0.0/8: HAProxy health-checks every server, and only loopback may be dialled. */
let loopbackCounter = Math.floor(Math.random() * 64_516);
/**
 * A loopback address not handed out before in this run: two keys never share one ip:port, so the expected
 * servers (decoded from etcd's values alone) need not know which of two duplicates registered first.
 */
export const loopbackNodeValue = (): string => {
  // 127.0.1.1–127.0.254.254: clear of 127.0.0.x, where the suites' own nodes listen.
  const n = loopbackCounter++ % 64_516;
  return `127.0.${1 + Math.floor(n / 254)}.${1 + (n % 254)}:3306`;
};

export interface DaemonWorldOptions {
  readonly prefix?: string;
  /** `--repair-interval` of the daemon. @default '5s' (the daemon's own default) */
  readonly repairInterval?: string;
  /** Nodes written before the first render, so the guard (`--min-servers 1`) never holds the start. @default 12 */
  readonly seedNodes?: number;
  /** Where every daemon process's output is written on close, for reading a failure afterwards. */
  readonly logFile?: string;
}

/** What the daemon processes did across the run, read from their exits and JSON logs. */
export interface DaemonReport {
  readonly starts: number;
  /** Exits nobody asked for, and SIGTERM stops that did not end with code 0. */
  readonly unexpectedExits: readonly string[];
  readonly fatalLines: readonly LogEntry[];
  readonly passes: Readonly<Record<string, number>>;
  readonly driftRepairs: number;
  readonly threw: number;
}

export interface DaemonWorld {
  readonly world: FaultWorld;
  readonly sink: HaproxySink;
  readonly monitor: ServingMonitor;
  /** The cycle of faults the rounds go through. */
  readonly faults: readonly Fault[];
  readonly configPath: string;
  readonly statsSocket: string;
  haproxy(): RunningHaproxy;
  report(): DaemonReport;
  /** Every JSON log line of every daemon process so far, in order. */
  logs(): LogEntry[];
  /** The same, one list per daemon process. */
  logsByProcess(): LogEntry[][];
  /** When (ms since the epoch) each HAProxy restart began: a restarted HAProxy has only the file's servers. */
  readonly haproxyRestarts: readonly number[];
  close(): Promise<void>;
}

/** The `watch` process and its successors: every start is kept so that all their logs can be audited. */
class DaemonProcesses {
  readonly all: CliDaemon[] = [];
  readonly unexpectedExits: string[] = [];
  private current: CliDaemon | null = null;
  private stopping = false;

  constructor(private readonly args: readonly string[]) {}

  async start(): Promise<void> {
    const daemon = startCliDaemon([...this.args]);
    this.all.push(daemon);
    this.current = daemon;
    this.stopping = false;
    daemon.child.once('exit', (code, signal) => {
      if (!this.stopping || this.current !== daemon) {
        this.unexpectedExits.push(`watch exited by itself (code ${String(code)}, signal ${String(signal)}); last output:\n${daemon.output().slice(-2000)}`);
      }
    });
    await daemon.waitForLog((e) => e.msg === 'watching etcd', 20_000);
  }

  /** SIGTERM must end in exit code 0; SIGKILL just ends it. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const daemon = this.current;
    if (daemon === null) return;
    this.stopping = true;
    const started = Date.now();
    const code = await daemon.stop(signal, 15_000);
    this.current = null;
    if (signal === 'SIGTERM' && code !== 0) {
      // 'exit' can come before the last lines were read from the pipe; 'close' comes after them.
      if (daemon.child.stderr !== null && !daemon.child.stderr.closed) {
        await new Promise((resolve) => {
          daemon.child.once('close', resolve);
          setTimeout(resolve, 2000);
        });
      }
      const how = daemon.child.signalCode === null ? `code ${String(code)}` : `signal ${daemon.child.signalCode}`;
      const problem = `watch ended by ${how} ${Date.now() - started} ms after SIGTERM (15 s allowed); last output:\n${daemon.output().slice(-1500)}`;
      this.unexpectedExits.push(problem);
      throw new Error(problem);
    }
  }

  report(): DaemonReport {
    const logs = this.all.flatMap((d) => d.logs);
    const passes: Record<string, number> = {};
    for (const e of logs) {
      if (typeof e.outcome === 'string' && e.msg.startsWith('sync ')) passes[e.outcome] = (passes[e.outcome] ?? 0) + 1;
    }
    return {
      starts: this.all.length,
      unexpectedExits: [...this.unexpectedExits],
      fatalLines: logs.filter((e) => e.level === 'fatal'),
      passes,
      driftRepairs: logs.filter((e) => e.msg.startsWith('HAProxy had drifted')).length,
      threw: logs.filter((e) => e.msg.startsWith('sync pass threw')).length,
    };
  }
}

/** Reads the daemon's `/status`; null while it is down or has not finished a pass. */
async function statusRevision(address: string): Promise<bigint | null> {
  try {
    const res = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(1000) });
    const report = (await res.json()) as StatusReport;
    return report.lastPass === null ? null : BigInt(report.lastPass.revision);
  } catch {
    return null;
  }
}

function etcdFault(name: string): Fault {
  const fault = ETCD_FAULTS.find((f) => f.name === name);
  if (fault === undefined) throw new Error(`no etcd fault named ${JSON.stringify(name)}`);
  return fault;
}

/**
 * The real `watch` CLI (all three members through the fault proxies, so failover and cuts reach it)
 * feeding a real HAProxy in master-worker mode, on top of the etcd fault world and its churn.
 */
export async function startDaemonWorld(options: DaemonWorldOptions = {}): Promise<DaemonWorld> {
  const prefix = options.prefix ?? '/faults/daemon';
  const world = await startFaultWorld({ prefix });
  let dir: TempDir | null = null;
  let haproxy: RunningHaproxy | null = null;
  let monitor: ServingMonitor | null = null;
  let processes: DaemonProcesses | null = null;
  try {
    dir = await tempDir('galera-haproxy-daemon-faults');
    for (let i = 0; i < (options.seedNodes ?? 12); i += 1) {
      const key = `${prefix}/n${i}`;
      const value = loopbackNodeValue();
      const res = await world.writer.put(key).value(value).exec();
      world.ledger.recordWrite('put', key, BigInt(res.header.revision), value);
    }
    const configPath = join(dir.path, 'haproxy.cfg');
    const statsSocket = join(dir.path, 'admin.sock');
    const statusAddress = `127.0.0.1:${await freePort()}`;
    const templateVars = [
      '--set', `listen=127.0.0.1:${await freePort()}`,
      '--set', `stats_socket=${statsSocket}`,
      '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    ];
    const first = await runCli(['render', '--etcd-endpoints', world.cluster.endpoints.join(','), '--prefix', prefix, '--check', ...templateVars]);
    if (first.code !== 0) throw new Error(`render exited ${String(first.code)}: ${first.stderr}`);
    await writeFile(configPath, first.stdout);
    const runDir = dir.path;
    const h = await startHaproxy({ configPath, dir: runDir });
    haproxy = h;
    processes = new DaemonProcesses([
      'watch',
      '--etcd-endpoints', world.proxies.map((p) => `http://${p.address}`).join(','),
      '--prefix', prefix,
      '--config', configPath,
      '--master-socket', h.masterSocket,
      '--stats-socket', statsSocket,
      ...templateVars,
      '--repair-interval', options.repairInterval ?? '5s',
      '--status-listen', statusAddress,
      // The accounting replays every node decision; a mass change logs them one by one only at debug.
      '--log-level', 'debug',
    ]);
    const live = processes;
    await live.start();
    const m = new ServingMonitor(statsSocket);
    monitor = m;
    const sink = new HaproxySink({
      prefix,
      statsSocket,
      configPath,
      lastWrittenRevision: () => world.ledger.maxWritten,
      daemonRevision: () => statusRevision(statusAddress),
    });
    const haproxyRestarts: number[] = [];
    const restartDaemon = (signal: 'SIGTERM' | 'SIGKILL'): Fault => ({
      name: signal === 'SIGTERM' ? 'restart daemon (SIGTERM)' : 'kill -9 daemon',
      async run(_world, pauseMs) {
        try {
          await live.stop(signal);
          await sleep(Math.min(pauseMs, 1000));
        } finally {
          // A failed stop fails this round, not every round after it.
          await live.start();
        }
      },
    });
    const faults: Fault[] = [
      etcdFault('kill -9 leader'),
      {
        name: 'etcd outage (HAProxy keeps servers)',
        async run(w, pauseMs) {
          await w.cluster.stopAll();
          let lowest: number | null = null;
          try {
            const until = Date.now() + pauseMs;
            while (Date.now() < until) {
              const count = await m.sample();
              if (count !== null) lowest = Math.min(lowest ?? count, count);
              await sleep(200);
            }
          } finally {
            await w.cluster.startAll();
          }
          if (lowest === null) throw new Error('HAProxy could not be read during the etcd outage');
          if (lowest === 0) throw new Error('HAProxy served no server during the etcd outage');
        },
      },
      etcdFault('cut watcher, write, compact'),
      restartDaemon('SIGTERM'),
      {
        name: 'restart HAProxy',
        async run(_world, pauseMs) {
          await m.whilePaused(async () => {
            haproxyRestarts.push(Date.now());
            await haproxy?.stop();
            await sleep(Math.min(pauseMs, 1000));
            // The same directory: the same master socket path, and the config the daemon last wrote.
            haproxy = await startHaproxy({ configPath, dir: runDir });
          });
        },
      },
      restartDaemon('SIGKILL'),
    ];
    return {
      world,
      sink,
      monitor: m,
      faults,
      configPath,
      statsSocket,
      haproxy: () => {
        if (haproxy === null) throw new Error('HAProxy is not running');
        return haproxy;
      },
      report: () => live.report(),
      logs: () => live.all.flatMap((d) => d.logs),
      logsByProcess: () => live.all.map((d) => d.logs),
      haproxyRestarts,
      async close() {
        await m.stop();
        await live.stop('SIGKILL').catch(() => undefined);
        if (options.logFile !== undefined) {
          await writeFile(options.logFile, live.all.map((d, i) => `=== watch process ${i + 1}\n${d.output()}\n`).join(''));
        }
        await haproxy?.stop();
        await world.close();
        await dir?.remove();
      },
    };
  } catch (err) {
    await monitor?.stop();
    await processes?.stop('SIGKILL').catch(() => undefined);
    await haproxy?.stop();
    await world.close();
    await dir?.remove();
    throw err;
  }
}

const COMPLETED = new Set(['runtime', 'reload', 'noop']);
const endpointOf = (e: LogEntry): string => `${String(e.address)}:${String(e.port)}`;

/**
 * Replays each process's decision lines (`node added/removed/changed`, all carrying the pass's
 * revision) into the nodes it held, and keeps that after each pass HAProxy took. A process starts from
 * nothing: its first pass logs every node as added.
 */
export function daemonPasses(processes: readonly (readonly LogEntry[])[]): DaemonPass[] {
  const passes: DaemonPass[] = [];
  for (const logs of processes) {
    const nodes = new Map<string, string>();
    for (const e of logs) {
      const node = typeof e.node === 'string' ? e.node : null;
      if (e.msg === 'node added' && node !== null) nodes.set(node, endpointOf(e));
      else if (e.msg === 'node removed' && node !== null) nodes.delete(node);
      else if (e.msg === 'node changed' && node !== null) nodes.set(node, String(e.to).split(' ')[0] ?? '');
      else if (e.msg.startsWith('sync ') && typeof e.outcome === 'string' && COMPLETED.has(e.outcome) && typeof e.revision === 'string') {
        passes.push({ revision: BigInt(e.revision), nodes: new Map(nodes) });
      }
    }
  }
  return passes;
}

/**
 * A server added to HAProxy's runtime a second time with nothing in between that could have taken it
 * out: no runtime remove of it, no confirmed reload, no HAProxy restart. HAProxy refuses a second
 * `add server` for a name it has, so such a line means the daemon applied an add it had already applied.
 */
export function countDuplicateAdds(processes: readonly (readonly LogEntry[])[], haproxyRestarts: readonly number[]): number {
  const ops = processes
    .flat()
    .filter((e) => (e.msg === 'runtime op applied' && typeof e.server === 'string') || e.msg === 'reload confirmed')
    .map((e) => ({ e, at: Date.parse(String(e.time)) }))
    .sort((a, b) => a.at - b.at);
  const added = new Set<string>();
  const restarts = [...haproxyRestarts].sort((a, b) => a - b);
  let duplicates = 0;
  for (const { e, at } of ops) {
    while (restarts.length > 0 && (restarts[0] as number) <= at) {
      restarts.shift();
      added.clear();
    }
    if (e.msg === 'reload confirmed') {
      added.clear();
      continue;
    }
    const server = String(e.server);
    if (e.op === 'add') {
      if (added.has(server)) duplicates += 1;
      added.add(server);
    } else if (e.op === 'remove' || e.op === 'set-backup') {
      added.delete(server);
    }
  }
  return duplicates;
}

/** A round as the daemon saw it: the etcd round, the writes booked against the daemon's passes, HAProxy's figures. */
export interface DaemonRound extends Omit<RoundResult, 'seenAsEvents' | 'coveredBySnapshot' | 'lost' | 'duplicates'> {
  /** Writes some daemon pass showed (its nodes equal to etcd's for that key at the pass's revision). */
  readonly shownByPass: number;
  /** Writes overwritten before the daemon's next pass. */
  readonly foldedIntoLaterPass: number;
  /** Writes the daemon passed over and never showed. */
  readonly lost: number;
  /** Runtime adds of a server HAProxy already had from the daemon (see countDuplicateAdds). */
  readonly duplicates: number;
  /** How long the sink waited for HAProxy after the source's mirror had converged. */
  readonly haproxyWaitMs: number | null;
  /** Fewest servers HAProxy served at any sample during the round. */
  readonly minServing: number | null;
}

/** Where the previous round's accounting stopped: the next one books from there. */
export interface DaemonMark {
  readonly writes: number;
  readonly duplicates: number;
}

export function markDaemon(world: DaemonWorld): DaemonMark {
  return { writes: world.world.ledger.allWrites().length, duplicates: countDuplicateAdds(world.logsByProcess(), world.haproxyRestarts) };
}

export function toDaemonRound(world: DaemonWorld, result: RoundResult, since: DaemonMark): DaemonRound {
  const writes = world.world.ledger.allWrites();
  const account = accountDaemon(world.world.prefix, writes, since.writes, daemonPasses(world.logsByProcess()));
  const duplicates = countDuplicateAdds(world.logsByProcess(), world.haproxyRestarts) - since.duplicates;
  const { seenAsEvents: _seen, coveredBySnapshot: _covered, lost: _lost, duplicates: _dup, ...round } = result;
  const booked = account.lost === 0 && duplicates === 0;
  const error = round.error ?? (booked ? null : `the daemon lost ${account.lost} write(s) and added ${duplicates} server(s) twice`);
  return {
    ...round,
    passed: error === null,
    error,
    written: account.written,
    shownByPass: account.shownByPass,
    foldedIntoLaterPass: account.foldedIntoLaterPass,
    lost: account.lost,
    duplicates,
    haproxyWaitMs: result.error === null ? world.sink.lastWaitMs : null,
    minServing: world.monitor.takeRoundMin(),
  };
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? null);

export interface DaemonSummary {
  readonly rounds: number;
  readonly passed: number;
  readonly healToConvergedP50Ms: number | null;
  readonly healToConvergedMaxMs: number | null;
  readonly haproxyWaitMaxMs: number | null;
  readonly written: number;
  readonly shownByPass: number;
  readonly foldedIntoLaterPass: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly minServing: number | null;
}

export function summarizeDaemon(rounds: readonly DaemonRound[]): DaemonSummary {
  const heal = rounds.map((r) => r.healToConvergedMs).filter((t): t is number => t !== null).sort((a, b) => a - b);
  const waits = rounds.map((r) => r.haproxyWaitMs).filter((t): t is number => t !== null);
  const sum = (f: (r: DaemonRound) => number): number => rounds.reduce((acc, r) => acc + f(r), 0);
  const mins = rounds.map((r) => r.minServing).filter((n): n is number => n !== null);
  return {
    rounds: rounds.length,
    passed: rounds.filter((r) => r.passed).length,
    healToConvergedP50Ms: percentile(heal, 0.5),
    healToConvergedMaxMs: heal.at(-1) ?? null,
    haproxyWaitMaxMs: waits.length === 0 ? null : Math.max(...waits),
    written: sum((r) => r.written),
    shownByPass: sum((r) => r.shownByPass),
    foldedIntoLaterPass: sum((r) => r.foldedIntoLaterPass),
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
    minServing: mins.length === 0 ? null : Math.min(...mins),
  };
}

/** A markdown table, one row per round, and a summary line under it. */
export function formatDaemonTable(rounds: readonly DaemonRound[], summary: DaemonSummary, report: DaemonReport): string {
  const head = ['round', 'fault', 'ok', 'heal→converged ms', 'HAProxy wait ms', 'min serving', 'written', 'shown by a pass', 'folded', 'lost', 'dup'];
  const cell = (n: number | null): string => (n === null ? '-' : String(n));
  const rows = rounds.map((r) => [
    String(r.round),
    r.fault,
    r.passed ? 'yes' : `NO: ${(r.error ?? '').replace(/\|/g, '/').replace(/\n/g, ' ')}`,
    cell(r.healToConvergedMs),
    cell(r.haproxyWaitMs),
    cell(r.minServing),
    String(r.written),
    String(r.shownByPass),
    String(r.foldedIntoLaterPass),
    String(r.lost),
    String(r.duplicates),
  ]);
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const passes = Object.entries(report.passes).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    '',
    `rounds passed ${summary.passed}/${summary.rounds}; heal→converged p50 ${cell(summary.healToConvergedP50Ms)} ms, max ${cell(summary.healToConvergedMaxMs)} ms; ` +
      `writes ${summary.written}, shown by a daemon pass ${summary.shownByPass}, folded into a later pass ${summary.foldedIntoLaterPass}, lost by the daemon ${summary.lost}, added twice ${summary.duplicates}; ` +
      `fewest servers HAProxy served ${cell(summary.minServing)}`,
    `daemon: ${report.starts} starts, ${report.unexpectedExits.length} unexpected exits, ${report.fatalLines.length} fatal lines, passes {${passes}}, ` +
      `drift repairs ${report.driftRepairs}, passes that threw ${report.threw}`,
  ].join('\n');
}

/** `rounds` rounds over the daemon's fault cycle, with loopback churn and HAProxy as the sink. */
export async function runDaemonRounds(
  world: DaemonWorld,
  rounds: number,
  options: { pauseMs: number; convergeTimeoutMs: number; onRound?: (r: DaemonRound) => void },
): Promise<DaemonRound[]> {
  const out: DaemonRound[] = [];
  let mark = markDaemon(world);
  await runRounds(world.world, rounds, {
    pauseMs: options.pauseMs,
    convergeTimeoutMs: options.convergeTimeoutMs,
    sinks: [world.sink],
    faults: world.faults,
    churnValue: loopbackNodeValue,
    onRound: (r) => {
      const round = toDaemonRound(world, r, mark);
      mark = markDaemon(world);
      out.push(round);
      options.onRound?.(round);
    },
  });
  return out;
}
