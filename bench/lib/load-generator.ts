import { connect } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  /** New connections per second. @default 200 */
  ratePerSecond?: number;
  /** The run stops opening connections after this long. */
  durationMs: number;
  /** Per-connection limit for connect + greeting. @default 2000 */
  connectionTimeoutMs?: number;
  /** A reply counts as success when it starts with this. @default 'fake-galera ' */
  expectPrefix?: string;
  /** Stops opening connections early when aborted (the run is still bounded by durationMs). */
  signal?: AbortSignal;
  /** Hard cap on attempts, whatever the rate and duration. @default 100000 */
  maxAttempts?: number;
}

export interface LoadStats {
  attempts: number;
  ok: number;
  failed: number;
  /** First failure messages (at most 20), for the report. */
  failures: string[];
  /** Successful connections per greeting line (i.e. per backend). */
  perBackend: Record<string, number>;
  /** Connect-to-greeting latency, ms. */
  latencyMs: { p50: number; p99: number; max: number };
  elapsedMs: number;
}

function attempt(host: string, port: number, timeoutMs: number, prefix: string): Promise<{ ok: boolean; line: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let data = '';
    let done = false;
    const finish = (ok: boolean, line: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, line, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const nl = data.indexOf('\n');
      if (nl !== -1) {
        const line = data.slice(0, nl);
        finish(line.startsWith(prefix), line.startsWith(prefix) ? line : `unexpected reply ${JSON.stringify(line)}`);
      }
    });
    socket.on('error', (err) => finish(false, err.message));
    socket.on('close', () => finish(false, data === '' ? 'closed without a reply' : `partial reply ${JSON.stringify(data)}`));
  });
}

/** The p-th percentile of an ascending list (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * Opens new TCP connections to `host:port` at a steady rate for `durationMs`, each of which must be
 * greeted by a backend. Bounded by duration and by `maxAttempts`; waits for the last ones to finish.
 */
export async function runLoad(options: LoadOptions): Promise<LoadStats> {
  const rate = options.ratePerSecond ?? 200;
  const timeoutMs = options.connectionTimeoutMs ?? 2000;
  const prefix = options.expectPrefix ?? 'fake-galera ';
  const maxAttempts = options.maxAttempts ?? 100_000;
  const intervalMs = 1000 / rate;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  const stats: LoadStats = { attempts: 0, ok: 0, failed: 0, failures: [], perBackend: {}, latencyMs: { p50: 0, p99: 0, max: 0 }, elapsedMs: 0 };
  const latencies: number[] = [];

  while (performance.now() - started < options.durationMs && stats.attempts < maxAttempts && options.signal?.aborted !== true) {
    // Catch up by schedule rather than by sleeping a fixed step, so timer jitter does not lower the rate.
    const due = Math.floor((performance.now() - started) / intervalMs) + 1;
    while (stats.attempts < due && stats.attempts < maxAttempts) {
      stats.attempts += 1;
      const at = performance.now() - started;
      pending.push(
        attempt(options.host, options.port, timeoutMs, prefix).then((r) => {
          if (r.ok) {
            stats.ok += 1;
            latencies.push(r.ms);
            stats.perBackend[r.line] = (stats.perBackend[r.line] ?? 0) + 1;
          } else {
            stats.failed += 1;
            if (stats.failures.length < 20) stats.failures.push(`${r.line} (opened at +${at.toFixed(0)} ms, failed after ${r.ms.toFixed(0)} ms)`);
          }
        }),
      );
    }
    await new Promise((r) => setTimeout(r, Math.max(1, intervalMs / 2)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  stats.latencyMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0 };
  stats.elapsedMs = performance.now() - started;
  return stats;
}
