import { readFile } from 'node:fs/promises';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { commands, parseServersState } from '../../src/apply/runtime-commands.js';
import { decodeCluster, formatEndpoint } from '../../src/model/decode-cluster.js';
import { parseServers } from '../../src/plan/parse-servers.js';
import type { RuntimeServer } from '../../src/plan/types.js';
import { inRotation } from '../../src/plan/admin-state.js';
import type { RoundSink } from './etcd-rounds.js';

// A server the daemon removed stays in the runtime in drain until its sessions end, so it is not
// "one of HAProxy's servers" any more: only servers in rotation count.

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One comparable line per server: its name and where it points (`n3 127.0.4.5:3306`). */
const describe = (s: { name: string; address: string; port: number }): string => `${s.name} ${formatEndpoint(s.address, s.port)}`;

export function servingServers(servers: readonly RuntimeServer[]): string[] {
  return servers.filter(inRotation).map(describe).sort();
}

/** HAProxy's servers that take traffic, as its Runtime API reports them now. */
export async function readServing(statsSocket: string): Promise<string[]> {
  const reply = await sendSocketCommand(statsSocket, commands.showServersState().text, { timeoutMs: 2000 });
  return servingServers(parseServersState(reply));
}

/** The servers the file on disk lists. */
export async function readFileServers(configPath: string): Promise<string[]> {
  return parseServers(await readFile(configPath, 'utf8')).map(describe).sort();
}

/** What HAProxy should run for `truth` (etcd's keys under the prefix): its valid nodes. */
export function expectedServers(prefix: string, truth: Record<string, string>): string[] {
  const kvs = Object.entries(truth).map(([key, value]) => ({ key, value }));
  return decodeCluster(prefix, kvs).nodes.map(describe).sort();
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function difference(got: readonly string[], want: readonly string[]): string {
  const missing = want.filter((w) => !got.includes(w));
  const extra = got.filter((g) => !want.includes(g));
  const cut = (list: string[]): string => (list.length > 5 ? `${list.slice(0, 5).join(', ')}, … (${list.length})` : list.join(', '));
  return `missing [${cut(missing)}], extra [${cut(extra)}]`;
}

export interface HaproxySinkTarget {
  readonly prefix: string;
  readonly statsSocket: string;
  readonly configPath: string;
  /** Revision of the last acknowledged write: the daemon must have applied a view at least this new. */
  readonly lastWrittenRevision: () => bigint;
  /** Revision of the daemon's last sync pass, or null when it has none (yet) or cannot be asked. */
  readonly daemonRevision: () => Promise<bigint | null>;
}

/**
 * Converged means: the daemon's last pass covered the last write, HAProxy's serving runtime servers are
 * exactly the valid nodes decoded from etcd, and the file on disk lists the same servers (so a restart
 * of HAProxy would keep them).
 */
export class HaproxySink implements RoundSink {
  readonly name = 'haproxy';
  /** How long the last call waited, or null when it timed out. */
  lastWaitMs: number | null = null;

  constructor(private readonly target: HaproxySinkTarget) {}

  async waitConverged(truth: Record<string, string>, timeoutMs: number): Promise<void> {
    this.lastWaitMs = null;
    const started = Date.now();
    const want = expectedServers(this.target.prefix, truth);
    const minRevision = this.target.lastWrittenRevision();
    let last = 'nothing read yet';
    for (;;) {
      try {
        last = await this.mismatch(want, minRevision);
        if (last === '') {
          this.lastWaitMs = Date.now() - started;
          return;
        }
      } catch (err) {
        // HAProxy restarting or the daemon between processes: keep polling until the bound.
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(`HAProxy not equal to etcd's ${want.length} valid nodes within ${timeoutMs} ms: ${last}`);
      }
      await sleep(50);
    }
  }

  /** '' when converged, else what still differs. */
  private async mismatch(want: readonly string[], minRevision: bigint): Promise<string> {
    const revision = await this.target.daemonRevision();
    if (revision === null || revision < minRevision) {
      return `daemon's last pass at revision ${revision ?? 'none'}, last write at ${minRevision}`;
    }
    const runtime = await readServing(this.target.statsSocket);
    if (!same(runtime, want)) return `runtime: ${difference(runtime, want)}`;
    const file = await readFileServers(this.target.configPath);
    if (!same(file, want)) return `file: ${difference(file, want)}`;
    return '';
  }
}

/**
 * Samples how many servers HAProxy serves, all the time, to prove it never drops to none (an etcd
 * outage is not "every node left"). Paused while a fault takes HAProxy itself down.
 */
export class ServingMonitor {
  private stopped = false;
  private paused = 0;
  private readonly done: Promise<void>;
  /** Lowest count seen since the last `takeRoundMin()`, and over the whole run. */
  private roundMin: number | null = null;
  overallMin: number | null = null;
  samples = 0;
  zeroSamples = 0;

  constructor(
    private readonly statsSocket: string,
    private readonly everyMs = 200,
    maxMs = 6 * 60 * 60 * 1000,
  ) {
    this.done = this.loop(maxMs);
  }

  private async loop(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (!this.stopped && Date.now() < deadline) {
      if (this.paused === 0) await this.sample();
      await sleep(this.everyMs);
    }
  }

  /** One reading; also used by faults that must check HAProxy at a given moment. Null if unreachable. */
  async sample(): Promise<number | null> {
    let count: number;
    try {
      count = (await readServing(this.statsSocket)).length;
    } catch {
      // Unreachable is not "zero servers"; a fault that stops HAProxy pauses the monitor first.
      return null;
    }
    if (this.paused > 0) return count;
    this.samples += 1;
    if (count === 0) this.zeroSamples += 1;
    this.roundMin = Math.min(this.roundMin ?? count, count);
    this.overallMin = Math.min(this.overallMin ?? count, count);
    return count;
  }

  /** Runs `work` with sampling suspended (HAProxy is being restarted). */
  async whilePaused<T>(work: () => Promise<T>): Promise<T> {
    this.paused += 1;
    try {
      return await work();
    } finally {
      this.paused -= 1;
    }
  }

  takeRoundMin(): number | null {
    const min = this.roundMin;
    this.roundMin = null;
    return min;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}
