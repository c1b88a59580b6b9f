import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI_PATH = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

function requireBuild(): void {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` first (bash .ci/setup does)`);
}

/**
 * The Node settings the `galera-haproxy` bin starts with: the words after `node` on its first line
 * (`#!/usr/bin/env -S node --max-semi-space-size=…`). Tests and benches run the CLI as `node <script>`,
 * which skips that line, so they pass the same settings themselves.
 */
export function deployedNodeArgs(): string[] {
  requireBuild();
  const shebang = readFileSync(CLI_PATH, 'utf8').split('\n', 1)[0] ?? '';
  const words = shebang.replace(/^#!/, '').trim().split(/\s+/);
  const node = words.findIndex((word) => word === 'node' || word.endsWith('/node'));
  return node < 0 ? [] : words.slice(node + 1);
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; uid?: number } = {}): Promise<CliResult> {
  requireBuild();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...deployedNodeArgs(), CLI_PATH, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`galera-haproxy ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A long-running CLI process (watch, register, clustercheck) whose JSON log lines are collected. */
export interface CliDaemon {
  readonly child: ChildProcess;
  readonly logs: LogEntry[];
  /** Resolves with the first log entry matching `pred` (including ones already seen). */
  waitForLog(pred: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  /** SIGTERM (or `signal`) and wait for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  output(): string;
}

/**
 * `nodeArgs` go to node before the script (V8 settings, `--heapsnapshot-signal`); by default the bin's
 * own ({@link deployedNodeArgs}), so tests and benches run the daemon as it is deployed.
 */
export function startCliDaemon(args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {}): CliDaemon {
  requireBuild();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? deployedNodeArgs()), CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  const logs: LogEntry[] = [];
  const raw: string[] = [];
  const waiters: { pred: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    raw.push(line);
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      return;
    }
    logs.push(entry);
    for (const w of [...waiters]) {
      if (w.pred(entry)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  child.stdout!.on('data', (d: Buffer) => raw.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    output: () => raw.join('\n'),
    waitForLog(pred, timeoutMs = 15_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; log so far:\n${raw.slice(-40).join('\n')}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}
