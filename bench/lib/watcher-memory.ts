import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CliDaemon } from '../../test/helpers/cli.js';

/** The watcher's memory as it reports it on SIGUSR2 (process.memoryUsage()), in MB. */
export interface MemoryFigures {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
}

const MB = 1048576;
const round = (bytes: number): number => Number((bytes / MB).toFixed(1));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Asks the daemon for its status line (SIGUSR2) and reads the memory figures from it. */
export async function watcherMemory(daemon: CliDaemon): Promise<MemoryFigures> {
  const seen = daemon.logs.length;
  daemon.child.kill('SIGUSR2');
  const line = await daemon.waitForLog((e) => e.msg === 'status' && e.signal === 'SIGUSR2' && daemon.logs.indexOf(e) >= seen, 10_000);
  const bytes = (field: string): number => {
    const value = line[field];
    if (typeof value !== 'number') throw new Error(`the status line has no ${field}: ${JSON.stringify(line)}`);
    return value;
  };
  return { rssMb: round(bytes('rssBytes')), heapUsedMb: round(bytes('heapUsedBytes')), heapTotalMb: round(bytes('heapTotalBytes')), externalMb: round(bytes('externalBytes')) };
}

/**
 * Baseline for the watcher's RSS: a Node process with the same settings that loads nothing and waits,
 * measured after the same idle time.
 */
export async function bareNodeRssMb(nodeArgs: readonly string[], idleMs: number): Promise<number> {
  const child = spawn(process.execPath, [...nodeArgs, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(idleMs);
    const status = readFileSync(`/proc/${child.pid!}/status`, 'utf8');
    return round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) * 1024);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Node flags that make the watcher write a heap snapshot into `dir` on SIGWINCH (a signal it leaves alone). */
export function heapSnapshotArgs(dir: string): string[] {
  return ['--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${dir}`];
}

/**
 * Has the watcher (started with {@link heapSnapshotArgs}) write a heap snapshot and renames it
 * `<label>.heapsnapshot`. The watcher is frozen while it writes: seconds for a large heap.
 */
export async function takeHeapSnapshot(daemon: CliDaemon, dir: string, label: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  daemon.child.kill('SIGWINCH');
  const t0 = Date.now();
  while (Date.now() - t0 < 120_000) {
    await sleep(500);
    const fresh = readdirSync(dir).find((name) => name.endsWith('.heapsnapshot') && !before.has(name));
    if (fresh === undefined) continue;
    // Written in one go by the watcher's main thread, which answers SIGUSR2 only once it is done.
    await watcherMemory(daemon);
    const target = join(dir, `${label}.heapsnapshot`);
    renameSync(join(dir, fresh), target);
    if (statSync(target).size === 0) throw new Error(`the heap snapshot ${target} is empty`);
    return target;
  }
  throw new Error(`the watcher wrote no heap snapshot into ${dir} within 120 s`);
}
