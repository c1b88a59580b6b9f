/**
 * What a heap snapshot of the watcher holds, for finding where its memory goes (bench/scale.ts
 * `--heap-snapshots DIR` writes one idle and one holding the burst). Prints:
 *   - the heap by V8 node type (code, strings, objects, arrays, …);
 *   - the constructors holding the most (count, self size);
 *   - the source text of loaded modules, per package (V8 keeps every loaded module's source);
 *   - the largest strings, each with the path of retainers that keeps it alive;
 *   - strings held in several copies (same length and same first 1,024 characters).
 * Usage: npx tsx bench/heap-top.ts FILE.heapsnapshot [--top 15]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly [readonly string[], ...unknown[]];
      readonly edge_fields: readonly string[];
      readonly edge_types: readonly [readonly string[], ...unknown[]];
    };
  };
  readonly nodes: readonly number[];
  readonly edges: readonly number[];
  readonly strings: readonly string[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (file === undefined) {
  console.error('usage: npx tsx bench/heap-top.ts FILE.heapsnapshot [--top 15]');
  process.exit(2);
}
const t = args.indexOf('--top');
const TOP = t >= 0 ? Number(args[t + 1]) : 15;

const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { meta } = snap.snapshot;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const N_TYPE = meta.node_fields.indexOf('type');
const N_NAME = meta.node_fields.indexOf('name');
const N_SIZE = meta.node_fields.indexOf('self_size');
const N_EDGES = meta.node_fields.indexOf('edge_count');
const E_TYPE = meta.edge_fields.indexOf('type');
const E_NAME = meta.edge_fields.indexOf('name_or_index');
const E_TO = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snap;
const count = nodes.length / NF;

const typeOf = (n: number): string => nodeTypes[nodes[n * NF + N_TYPE]!] ?? '?';
const nameOf = (n: number): string => strings[nodes[n * NF + N_NAME]!] ?? '';
const sizeOf = (n: number): number => nodes[n * NF + N_SIZE]!;
const edgeName = (e: number): string => {
  const type = edgeTypes[edges[e * EF + E_TYPE]!] ?? '?';
  const raw = edges[e * EF + E_NAME]!;
  return type === 'element' || type === 'hidden' ? `[${raw}]` : (strings[raw] ?? '?');
};

// First edge of each node, and each node's retainers (reverse edges that are not weak).
const firstEdge = new Uint32Array(count + 1);
for (let n = 0, e = 0; n < count; n++) {
  firstEdge[n] = e;
  e += nodes[n * NF + N_EDGES]!;
  firstEdge[n + 1] = e;
}
const retainers: number[][] = Array.from({ length: count }, () => []);
const retainerEdge: number[][] = Array.from({ length: count }, () => []);
for (let n = 0; n < count; n++) {
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
    if (edgeTypes[edges[e * EF + E_TYPE]!] === 'weak') continue;
    const to = edges[e * EF + E_TO]! / NF;
    if (retainers[to]!.length < 4) {
      retainers[to]!.push(n);
      retainerEdge[to]!.push(e);
    }
  }
}

const mb = (bytes: number): string => (bytes / 1048576).toFixed(2);
const short = (s: string, max = 70): string => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
const isString = (type: string): boolean => type === 'string' || type === 'concatenated string' || type === 'sliced string';

/** The chain of retainers that keeps `n` alive, nearest first, skipping V8's internal holders. */
function retainerPath(n: number, depth = 7): string {
  const parts: string[] = [];
  const seen = new Set<number>([n]);
  let at = n;
  for (let i = 0; i < depth; i++) {
    const holders = retainers[at]!;
    const k = holders.findIndex((h) => !seen.has(h));
    if (k < 0) break;
    const holder = holders[k]!;
    parts.push(`${edgeName(retainerEdge[at]![k]!)} ← ${typeOf(holder) === 'object' ? nameOf(holder) : `(${typeOf(holder)}) ${short(nameOf(holder), 30)}`}`);
    seen.add(holder);
    at = holder;
  }
  return parts.join(' ← ');
}

const byType = new Map<string, { count: number; bytes: number }>();
const byCtor = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let n = 0; n < count; n++) {
  const type = typeOf(n);
  const size = sizeOf(n);
  total += size;
  const tt = byType.get(type) ?? { count: 0, bytes: 0 };
  tt.count += 1;
  tt.bytes += size;
  byType.set(type, tt);
  if (type === 'object' || type === 'closure' || type === 'array') {
    const key = `${type === 'object' ? '' : `(${type}) `}${nameOf(n)}`;
    const c = byCtor.get(key) ?? { count: 0, bytes: 0 };
    c.count += 1;
    c.bytes += size;
    byCtor.set(key, c);
  }
}

// A module's source text: a Script node with a `source` edge to a string and a `name` naming the file.
const byPackage = new Map<string, number>();
for (let n = 0; n < count; n++) {
  let source = -1;
  let name = '';
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e++) {
    const label = edgeName(e);
    const to = edges[e * EF + E_TO]! / NF;
    if (label === 'source' && isString(typeOf(to))) source = to;
    if (label === 'name' && isString(typeOf(to))) name = nameOf(to);
  }
  if (source < 0 || name === '') continue;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(name)?.[1] ?? (name.startsWith('node:') || !name.includes('/') ? 'node (built-in)' : /\/(src|dist)\//.test(name) ? 'galera-haproxy' : name);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + sizeOf(source));
}

const stringsBySize: number[] = [];
const copies = new Map<string, { size: number; nodes: number[] }>();
for (let n = 0; n < count; n++) {
  if (!isString(typeOf(n))) continue;
  stringsBySize.push(n);
  const size = sizeOf(n);
  if (size < 4096) continue;
  const key = `${size}:${nameOf(n)}`;
  const group = copies.get(key) ?? { size, nodes: [] };
  group.nodes.push(n);
  copies.set(key, group);
}
stringsBySize.sort((a, b) => sizeOf(b) - sizeOf(a));

const sorted = <T extends { bytes: number }>(m: Map<string, T>): [string, T][] => [...m].sort((a, b) => b[1].bytes - a[1].bytes);

console.log(`${file}: ${count} nodes, ${mb(total)} MB (self sizes)\n`);
console.log('| V8 node type | count | MB |\n|---|---|---|');
for (const [type, v] of sorted(byType)) console.log(`| ${type} | ${v.count} | ${mb(v.bytes)} |`);
console.log(`\n| constructor (top ${TOP}) | count | MB |\n|---|---|---|`);
for (const [ctor, v] of sorted(byCtor).slice(0, TOP)) console.log(`| ${short(ctor, 50)} | ${v.count} | ${mb(v.bytes)} |`);
console.log('\n| loaded module sources, per package | MB |\n|---|---|');
for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`| ${pkg} | ${mb(bytes)} |`);
console.log(`\n| largest strings (top ${TOP}) | MB | retained by |\n|---|---|---|`);
for (const n of stringsBySize.slice(0, TOP)) console.log(`| ${short(nameOf(n), 50)} | ${mb(sizeOf(n))} | ${retainerPath(n)} |`);
const dupes = [...copies.values()].filter((g) => g.nodes.length > 1).sort((a, b) => b.size * (b.nodes.length - 1) - a.size * (a.nodes.length - 1));
console.log(`\n| strings held in several copies (≥ 4 KB) | copies | MB each | retained by (each copy) |\n|---|---|---|---|`);
for (const g of dupes.slice(0, TOP)) {
  console.log(`| ${short(nameOf(g.nodes[0]!), 40)} | ${g.nodes.length} | ${mb(g.size)} | ${g.nodes.slice(0, 4).map((n) => retainerPath(n, 4)).join('<br>')} |`);
}
console.log(
  JSON.stringify({
    bench: 'heap-top',
    file,
    totalMb: Number(mb(total)),
    byType: Object.fromEntries(sorted(byType).map(([k, v]) => [k, Number(mb(v.bytes))])),
    modulesMb: Object.fromEntries([...byPackage].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Number(mb(v))])),
    duplicatedMb: Number(mb(dupes.reduce((sum, g) => sum + g.size * (g.nodes.length - 1), 0))),
  }),
);
