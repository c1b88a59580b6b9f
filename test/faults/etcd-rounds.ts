import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../src/observe/logger.js';
import { createEtcdSource, type EtcdClusterSource } from '../../src/source/etcd-source.js';
import { etcdSourceOptions, type EtcdSourceOptions } from '../../src/source/etcd-options.js';
import { createEtcdClient } from '../../src/source/etcd-writer.js';
import { compact, readPrefix, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { parseEndpoint, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { Ledger } from './ledger.js';
import { Recorder, sameKeys, testLogger, waitFor } from './source-harness.js';

/** Something else that must follow etcd (e.g. the daemon's HAProxy); checked after the mirror converges. */
export interface RoundSink {
  readonly name: string;
  /** Resolves once the sink reflects `truth` (etcd's keys under the prefix); rejects after `timeoutMs`. */
  waitConverged(truth: Record<string, string>, timeoutMs: number): Promise<void>;
}

/** The running system the faults act on. */
export interface FaultWorld {
  readonly cluster: EtcdCluster;
  /** One proxy per member: the source reaches etcd only through these. */
  readonly proxies: readonly TcpProxy[];
  /** Direct client for the churn and for compaction (not through the proxies). */
  readonly writer: Etcd3;
  readonly prefix: string;
  readonly ledger: Ledger;
  readonly recorder: Recorder;
  source(): EtcdClusterSource;
  /** Close the source and start a new one (same recorder and ledger). */
  restartSource(): Promise<void>;
  close(): Promise<void>;
}

export interface Fault {
  readonly name: string;
  /** Injects the fault and heals it; `pauseMs` is how long the outage lasts. */
  run(world: FaultWorld, pauseMs: number): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const ETCD_FAULTS: readonly Fault[] = [
  {
    name: 'kill -9 leader',
    async run(world, pauseMs) {
      const leader = await world.cluster.leader();
      await leader.kill('SIGKILL');
      await sleep(Math.min(pauseMs, 2000));
      await leader.start();
    },
  },
  {
    name: 'stop all members',
    async run(world, pauseMs) {
      await world.cluster.stopAll();
      await sleep(pauseMs);
      await world.cluster.startAll();
    },
  },
  {
    name: 'cut watcher, write, compact',
    async run(world, pauseMs) {
      for (const proxy of world.proxies) proxy.cut();
      await sleep(Math.min(pauseMs, 1500));
      // Compact at the store's head, past everything the cut-off watcher has seen.
      await compact(world.writer);
      await sleep(200);
      for (const proxy of world.proxies) proxy.heal();
    },
  },
  {
    name: 'restart watcher',
    async run(world, pauseMs) {
      await sleep(Math.min(pauseMs, 500));
      await world.restartSource();
    },
  },
];

export interface WorldOptions {
  readonly prefix?: string;
  readonly logger?: Logger;
  readonly sourceOverrides?: Partial<EtcdSourceOptions>;
}

export async function startFaultWorld(options: WorldOptions = {}): Promise<FaultWorld> {
  const prefix = options.prefix ?? '/faults/galera';
  const logger = options.logger ?? testLogger();
  const cluster = await startEtcdCluster(3);
  const proxies: TcpProxy[] = [];
  let writer: Etcd3 | null = null;
  let current: EtcdClusterSource | null = null;
  try {
    for (const member of cluster.members) {
      const { host, port } = parseEndpoint(member.endpoint);
      proxies.push(await startTcpProxy(host, port));
    }
    const writerOptions = etcdSourceOptions({ endpoints: cluster.endpoints, requestTimeoutMs: 1500, backoff: { initialMs: 50, maxMs: 500 } });
    writer = createEtcdClient(writerOptions);
    const ledger = new Ledger();
    const recorder = new Recorder();
    const sourceOptions = etcdSourceOptions({
      endpoints: proxies.map((p) => `http://${p.address}`),
      prefix,
      backoff: { initialMs: 100, maxMs: 2000 },
      heartbeatIntervalMs: 500,
      staleAfterMs: 3000,
      startTimeoutMs: 10_000,
      resyncIntervalMs: 0,
      ...options.sourceOverrides,
    });
    const newSource = async (): Promise<EtcdClusterSource> => {
      const s = createEtcdSource(sourceOptions, logger, {
        onEvent: (e) => ledger.recordEvent(e),
        onSnapshot: (revision) => ledger.recordSnapshot(revision),
      });
      await s.start(recorder);
      return s;
    };
    current = await newSource();
    const w = writer;
    return {
      cluster,
      proxies,
      writer: w,
      prefix,
      ledger,
      recorder,
      source: () => {
        if (current === null) throw new Error('source closed');
        return current;
      },
      async restartSource() {
        await current?.close();
        current = await newSource();
      },
      async close() {
        await current?.close();
        current = null;
        w.close();
        await Promise.all(proxies.map((p) => p.close()));
        await cluster.destroy();
      },
    };
  } catch (err) {
    await current?.close();
    writer?.close();
    await Promise.all(proxies.map((p) => p.close()));
    await cluster.destroy();
    throw err;
  }
}

/** A random `ip:port` outside loopback: fine for a source that never dials its nodes. */
export const randomChurnValue = (): string => `10.0.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}:3306`;

/** Random puts and deletes on a small key set, until stopped or bounded out. */
export class Churn {
  private stopped = false;
  private readonly done: Promise<void>;
  failures = 0;

  constructor(
    private readonly world: FaultWorld,
    private readonly intervalMs: number,
    private readonly maxOps: number,
    private readonly maxMs: number,
    keys = 30,
    private readonly valueFor: () => string = randomChurnValue,
  ) {
    this.done = this.loop(keys);
  }

  private async loop(keys: number): Promise<void> {
    const deadline = Date.now() + this.maxMs;
    for (let i = 0; i < this.maxOps && !this.stopped && Date.now() < deadline; i += 1) {
      const key = `${this.world.prefix}/n${Math.floor(Math.random() * keys)}`;
      try {
        if (Math.random() < 0.7) {
          const value = this.valueFor();
          const res = await this.world.writer.put(key).value(value).exec();
          this.world.ledger.recordWrite('put', key, BigInt(res.header.revision), value);
        } else {
          const res = await this.world.writer.delete().key(key).exec();
          // A delete of a missing key changes nothing and produces no event.
          if (Number(res.deleted) > 0) this.world.ledger.recordWrite('delete', key, BigInt(res.header.revision));
        }
      } catch {
        // Expected while the fault is active; an unacknowledged write is not counted either way.
        this.failures += 1;
        await sleep(100);
      }
      await sleep(this.intervalMs);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

export interface RoundOptions {
  readonly pauseMs: number;
  readonly churnIntervalMs?: number;
  readonly convergeTimeoutMs?: number;
  readonly sinks?: readonly RoundSink[];
  /** Values the churn writes; a sink that dials its nodes (HAProxy health checks) wants loopback ones. */
  readonly churnValue?: () => string;
}

export interface RoundResult {
  readonly round: number;
  readonly fault: string;
  readonly passed: boolean;
  /** From the last write of the round (churn stopped after the heal) to the mirror and sinks equal to etcd. */
  readonly convergeMs: number | null;
  /** From the fault healing (300 ms of churn follow it) to converged. */
  readonly healToConvergedMs: number | null;
  readonly written: number;
  readonly seenAsEvents: number;
  readonly coveredBySnapshot: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly error: string | null;
}

/** Churn, fault, heal, stop churn, then wait for the mirror and the sinks to equal etcd. */
export async function runRound(world: FaultWorld, round: number, fault: Fault, options: RoundOptions): Promise<RoundResult> {
  const mark = world.ledger.mark();
  const churn = new Churn(world, options.churnIntervalMs ?? 5, 20_000, options.pauseMs + 60_000, 30, options.churnValue);
  let convergeMs: number | null = null;
  let healToConvergedMs: number | null = null;
  let error: string | null = null;
  try {
    await sleep(300);
    await fault.run(world, options.pauseMs);
    const healedAt = Date.now();
    // Keep writing briefly after the heal: those writes must arrive through the resumed watch.
    await sleep(300);
    await churn.stop();
    const lastWriteAt = Date.now();
    const timeout = options.convergeTimeoutMs ?? 30_000;
    let truth: Record<string, string> = {};
    await waitFor(
      async () => {
        truth = await readPrefix(world.writer, `${world.prefix}/`);
        // Equal keys are not enough: the last acknowledged write's revision must have been reached too.
        const revision = world.source().health().revision;
        return sameKeys(world.recorder.latest(), truth) && revision !== null && BigInt(revision) >= world.ledger.maxWritten;
      },
      timeout,
      `round ${round} (${fault.name}): mirror equal to etcd`,
    );
    for (const sink of options.sinks ?? []) await sink.waitConverged(truth, timeout);
    convergeMs = Date.now() - lastWriteAt;
    healToConvergedMs = Date.now() - healedAt;
    if (!(await world.source().resyncNow())) error = 'periodic resync found a difference';
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    await churn.stop();
  }
  const account = world.ledger.account(mark);
  const passed = error === null && account.lost === 0 && account.duplicates === 0;
  return { round, fault: fault.name, passed, convergeMs, healToConvergedMs, ...account, error: error ?? (passed ? null : 'events lost or duplicated') };
}

export interface SoakSummary {
  readonly rounds: number;
  readonly passed: number;
  readonly convergeP50Ms: number | null;
  readonly convergeMaxMs: number | null;
  readonly healToConvergedMaxMs: number | null;
  readonly written: number;
  readonly seenAsEvents: number;
  readonly coveredBySnapshot: number;
  readonly lost: number;
  readonly duplicates: number;
}

export function summarize(results: readonly RoundResult[]): SoakSummary {
  const times = results.map((r) => r.convergeMs).filter((t): t is number => t !== null).sort((a, b) => a - b);
  const sum = (f: (r: RoundResult) => number): number => results.reduce((acc, r) => acc + f(r), 0);
  return {
    rounds: results.length,
    passed: results.filter((r) => r.passed).length,
    convergeP50Ms: times.length === 0 ? null : (times[Math.floor((times.length - 1) / 2)] ?? null),
    convergeMaxMs: times.at(-1) ?? null,
    healToConvergedMaxMs: results.reduce<number | null>((m, r) => (r.healToConvergedMs === null ? m : Math.max(m ?? 0, r.healToConvergedMs)), null),
    written: sum((r) => r.written),
    seenAsEvents: sum((r) => r.seenAsEvents),
    coveredBySnapshot: sum((r) => r.coveredBySnapshot),
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
  };
}

export function formatTable(results: readonly RoundResult[], summary: SoakSummary): string {
  const head = ['round', 'fault', 'ok', 'converge ms', 'heal→converged ms', 'written', 'events', 'by snapshot', 'lost', 'dup'];
  const rows = results.map((r) => [
    String(r.round),
    r.fault,
    r.passed ? 'yes' : `NO: ${r.error ?? ''}`,
    r.convergeMs === null ? '-' : String(r.convergeMs),
    r.healToConvergedMs === null ? '-' : String(r.healToConvergedMs),
    String(r.written),
    String(r.seenAsEvents),
    String(r.coveredBySnapshot),
    String(r.lost),
    String(r.duplicates),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `rounds passed ${summary.passed}/${summary.rounds}; converge p50 ${summary.convergeP50Ms ?? '-'} ms, max ${summary.convergeMaxMs ?? '-'} ms (heal→converged max ${summary.healToConvergedMaxMs ?? '-'} ms); ` +
      `writes ${summary.written}, seen as events ${summary.seenAsEvents}, covered by snapshot ${summary.coveredBySnapshot}, lost ${summary.lost}, duplicates ${summary.duplicates}`,
  ].join('\n');
}

/** `rounds` rounds cycling through the faults (`faults`, by default the etcd ones, plus any `extraFaults`). */
export async function runRounds(
  world: FaultWorld,
  rounds: number,
  options: RoundOptions & { faults?: readonly Fault[]; extraFaults?: readonly Fault[]; onRound?: (r: RoundResult) => void },
): Promise<RoundResult[]> {
  const faults = [...(options.faults ?? ETCD_FAULTS), ...(options.extraFaults ?? [])];
  const results: RoundResult[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const fault = faults[i % faults.length] as Fault;
    const result = await runRound(world, i + 1, fault, options);
    results.push(result);
    options.onRound?.(result);
  }
  return results;
}
