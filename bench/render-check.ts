/**
 * Render + `haproxy -c` time for 10, 1,000 and 10,000 nodes. Each size runs several repetitions of:
 * decode (etcd key/values → ClusterState), render (nunjucks), checkConfig (stage + `haproxy -c` + parse),
 * and, as a baseline, `haproxy -c` alone on the same file, so readers can tell our cost from HAProxy's.
 *
 *   npx tsx bench/render-check.ts [--reps N] [--sizes 10,1000,10000] [--haproxy-bin PATH]
 *
 * Prints a table, then one JSON line. Only parses configs: nothing listens, nothing is contacted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { checkConfig, discardStaged } from '../src/check/haproxy-check.js';
import { decodeCluster } from '../src/model/decode-cluster.js';
import type { KeyValue } from '../src/model/types.js';
import { createRenderer } from '../src/render/render-config.js';

const PREFIX = '/components/galera';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const reps = Number(arg('--reps', '9'));
const sizes = arg('--sizes', '10,1000,10000').split(',').map(Number);
const haproxyBin = arg('--haproxy-bin', 'haproxy');

/** Mixed layouts, as a real prefix would hold: a third seed, a third flat, a third JSON. */
function kvsFor(n: number): KeyValue[] {
  const kvs: KeyValue[] = [];
  for (let i = 0; i < n; i++) {
    const j = i + 1;
    const ip = `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`;
    if (i % 3 === 0) {
      kvs.push({ key: `${PREFIX}/node-${i}/ip`, value: ip }, { key: `${PREFIX}/node-${i}/port`, value: '3306' });
    } else if (i % 3 === 1) {
      kvs.push({ key: `${PREFIX}/node-${i}`, value: `${ip}:3306` });
    } else {
      kvs.push({ key: `${PREFIX}/node-${i}`, value: JSON.stringify({ ip, port: 3306, weight: 10 }) });
    }
  }
  return kvs;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

interface Stat {
  p50: number;
  p95: number;
}
const stat = (values: number[]): Stat => ({ p50: round(quantile(values, 0.5)), p95: round(quantile(values, 0.95)) });
const round = (ms: number): number => Math.round(ms * 100) / 100;

async function main(): Promise<void> {
  const probe = await execa(haproxyBin, ['-v'], { reject: false });
  if (probe.exitCode !== 0) throw new Error(`${haproxyBin} not found: apt-get install haproxy`);
  const version = /version (\S+)/.exec(probe.stdout)?.[1] ?? 'unknown';
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-bench-'));
  const renderer = createRenderer({
    vars: { stats_socket: path.join(dir, 'admin.sock'), server_state_file: path.join(dir, 'state') },
  });
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const n of sizes) {
      const kvs = kvsFor(n);
      const t = { decode: [] as number[], render: [] as number[], check: [] as number[], haproxyOnly: [] as number[], total: [] as number[] };
      const target = path.join(dir, `haproxy-${n}.cfg`);
      let bytes = 0;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const state = decodeCluster(PREFIX, kvs);
        const t1 = performance.now();
        const text = renderer.render(state, { revision: String(r) });
        const t2 = performance.now();
        if (state.nodes.length !== n) throw new Error(`expected ${n} nodes, decoded ${state.nodes.length}`);
        const result = await checkConfig({ haproxyBin, configText: text, targetPath: target });
        const t3 = performance.now();
        if (!result.ok) throw new Error(`haproxy -c rejected the ${n}-node config: ${JSON.stringify(result.diagnostics)}`);
        await discardStaged(result.stagedPath);
        bytes = Buffer.byteLength(text);

        // Baseline: the same bytes, already on disk, checked by haproxy alone.
        writeFileSync(target, text);
        const b0 = performance.now();
        const baseline = await execa(haproxyBin, ['-c', '-f', target], { reject: false });
        const b1 = performance.now();
        if (baseline.exitCode !== 0) throw new Error(`baseline haproxy -c failed: ${baseline.stderr}`);

        t.decode.push(t1 - t0);
        t.render.push(t2 - t1);
        t.check.push(t3 - t2);
        t.haproxyOnly.push(b1 - b0);
        t.total.push(t3 - t0);
      }
      results.push({
        nodes: n,
        bytes,
        decodeMs: stat(t.decode),
        renderMs: stat(t.render),
        checkMs: stat(t.check),
        haproxyOnlyMs: stat(t.haproxyOnly),
        totalMs: stat(t.total),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const cols = ['nodes', 'bytes', 'decodeMs', 'renderMs', 'checkMs', 'haproxyOnlyMs', 'totalMs'];
  const cell = (v: unknown): string => (typeof v === 'object' && v !== null ? `${(v as Stat).p50} / ${(v as Stat).p95}` : String(v));
  console.log(`render + check, ${reps} repetitions per size, HAProxy ${version}, Node ${process.version}; times in ms as p50 / p95`);
  console.log('checkMs = stage + haproxy -c + parse (ours); haproxyOnlyMs = haproxy -c alone on the same file (baseline)');
  const rows = [cols, ...results.map((r) => cols.map((c) => cell(r[c])))];
  const widths = cols.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  for (const row of rows) console.log(row.map((v, i) => v.padStart(widths[i] ?? 0)).join('  '));
  console.log(JSON.stringify({ bench: 'render-check', haproxy: version, node: process.version, reps, results }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
