import { formatEndpoint } from '../model/decode-cluster.js';
import type { ClusterState, GaleraNode, Rejection } from '../model/types.js';
import { findControlCharacter } from '../model/validate-address.js';

/**
 * `galera-haproxy status`, the pure half: what was gathered (etcd, this proxy's stats socket, each
 * node's clustercheck) → one report → a table or JSON. Every source may have failed on its own; a
 * failure is a value here, shown as one word in its cell and one line under the table.
 */

/** A read that either worked or says in one line why not. */
export type Reading<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** One server as this proxy's HAProxy sees it (`show stat`). */
export interface HaproxyServer {
  readonly backend: string;
  readonly name: string;
  /** `addr` of `show stat`: `ip:port`. */
  readonly address: string;
  /** `status` of `show stat`: `UP`, `DOWN 1/2`, `DRAIN`, `MAINT`, `no check`, … */
  readonly status: string;
  readonly sessions: number;
  /** `weight` of `show stat`, when read: a single-writer listener gives its non-writers 0. */
  readonly weight?: number;
}

/** What a node's clustercheck said (`Accept: application/json`; a plain-text answer has the code only). */
export interface ClustercheckAnswer {
  readonly httpStatus: number;
  readonly state?: string;
  readonly recvQueue?: number;
  readonly reason?: string;
}

/** `<prefix>/_writer`, shown as stored: its value and its mod_revision (the writer epoch). */
export interface WriterRecord {
  readonly value: string;
  readonly epoch: string;
}

export interface GatheredService {
  readonly name: string;
  readonly prefix: string;
  readonly writerMode: 'single' | 'multi';
  readonly etcd: Reading<{ readonly revision: string; readonly state: ClusterState; readonly writerRecord: WriterRecord | null }>;
  /** Per node id: its clustercheck URL and answer; absent for a service without an HTTP check. */
  readonly checks: Readonly<Record<string, { readonly url: string; readonly answer: Reading<ClustercheckAnswer> }>>;
}

export interface Gathered {
  readonly at: string;
  readonly statsSocket: string;
  readonly haproxy: Reading<readonly HaproxyServer[]>;
  readonly services: readonly GatheredService[];
}

export type Role = 'writer' | 'reader' | 'backup' | 'draining' | 'leaving' | 'unknown';

export interface NodeRow {
  /** The node id under the prefix; for a server HAProxy has and etcd no longer lists, its server name. */
  readonly node: string;
  readonly server: string;
  readonly address: string;
  readonly role: Role;
  /** HAProxy's view: `UP`, `DOWN`, `DRAIN`, `MAINT`, `absent` (not in HAProxy) or `unreachable`. */
  readonly haproxy: string;
  readonly sessions: number | null;
  /** The node's own view: its clustercheck state, `HTTP <code>`, `unreachable`, or `-` (no check). */
  readonly clustercheck: string;
  readonly recvQueue: number | null;
  /** Why the clustercheck said no (503), when it said. */
  readonly reason?: string;
}

export interface ServiceReport {
  readonly name: string;
  readonly prefix: string;
  readonly revision: string | null;
  readonly writerRecord: WriterRecord | null;
  readonly nodes: readonly NodeRow[];
  readonly rejected: readonly Rejection[];
  /** One line per thing that could not be read, for under the table. */
  readonly problems: readonly string[];
}

export interface StatusReport {
  readonly at: string;
  readonly statsSocket: string;
  readonly haproxyError: string | null;
  readonly services: readonly ServiceReport[];
  /** etcd or the stats socket could not be read: the report is partial (exit 4). */
  readonly partial: boolean;
}

/** `show stat`'s status, in the four words operators act on; transitions (`UP 1/3`) keep their direction. */
export function haproxyWord(status: string): string {
  if (status.startsWith('MAINT')) return 'MAINT';
  if (status.startsWith('DRAIN')) return 'DRAIN';
  if (status.startsWith('DOWN')) return 'DOWN';
  if (status.startsWith('UP') || status === 'no check') return 'UP';
  return status === '' ? '-' : status.split(' ')[0] ?? status;
}

/**
 * The writer of a single-writer service is the server `balance first` picks: the first server of the
 * backend, in HAProxy's order, that is UP with a weight above 0 (every other server of the write listener
 * has weight 0), not backup and registered. Null when HAProxy's view is missing.
 */
function currentWriter(service: string, nodes: readonly GaleraNode[], haproxy: Reading<readonly HaproxyServer[]>): string | null {
  if (!haproxy.ok) return null;
  const active = new Set(nodes.filter((n) => !n.backup && n.draining !== true).map((n) => n.name));
  return haproxy.value.find((s) => s.backend === service && active.has(s.name) && haproxyWord(s.status) === 'UP' && (s.weight === undefined || s.weight > 0))?.name ?? '';
}

function roleOf(node: GaleraNode, mode: 'single' | 'multi', writer: string | null): Role {
  if (node.draining === true) return 'draining';
  if (node.backup) return 'backup';
  if (mode === 'multi') return 'writer';
  if (writer === null) return 'unknown';
  return node.name === writer ? 'writer' : 'reader';
}

function checkCells(entry: GatheredService['checks'][string] | undefined): Pick<NodeRow, 'clustercheck' | 'recvQueue' | 'reason'> {
  if (entry === undefined) return { clustercheck: '-', recvQueue: null };
  if (!entry.answer.ok) return { clustercheck: 'unreachable', recvQueue: null };
  const a = entry.answer.value;
  return {
    clustercheck: a.state ?? `HTTP ${a.httpStatus}`,
    recvQueue: a.recvQueue ?? null,
    ...(a.httpStatus !== 200 && a.reason !== undefined ? { reason: a.reason } : {}),
  };
}

function serviceReport(g: GatheredService, haproxy: Reading<readonly HaproxyServer[]>): ServiceReport {
  const problems: string[] = [];
  if (!g.etcd.ok) problems.push(`etcd ${g.prefix}: ${g.etcd.error}`);
  const nodes = g.etcd.ok ? g.etcd.value.state.nodes : [];
  const servers = haproxy.ok ? haproxy.value.filter((s) => s.backend === g.name) : [];
  const writer = currentWriter(g.name, nodes, haproxy);
  const rows: NodeRow[] = nodes.map((node) => {
    const seen = servers.find((s) => s.name === node.name);
    const check = g.checks[node.id];
    if (check !== undefined && !check.answer.ok) problems.push(`${node.id}: clustercheck ${check.url}: ${check.answer.error}`);
    return {
      node: node.id,
      server: node.name,
      address: formatEndpoint(node.address, node.port),
      role: roleOf(node, g.writerMode, writer),
      haproxy: !haproxy.ok ? 'unreachable' : seen === undefined ? 'absent' : haproxyWord(seen.status),
      sessions: seen?.sessions ?? null,
      ...checkCells(check),
    };
  });
  // A server HAProxy still has but etcd no longer lists is on its way out (draining before deletion).
  if (g.etcd.ok) {
    for (const s of servers.filter((s) => !nodes.some((n) => n.name === s.name))) {
      rows.push({ node: s.name, server: s.name, address: s.address, role: 'leaving', haproxy: haproxyWord(s.status), sessions: s.sessions, clustercheck: '-', recvQueue: null });
    }
  }
  return {
    name: g.name,
    prefix: g.prefix,
    revision: g.etcd.ok ? g.etcd.value.revision : null,
    writerRecord: g.etcd.ok ? g.etcd.value.writerRecord : null,
    nodes: rows,
    rejected: g.etcd.ok ? g.etcd.value.state.rejected : [],
    problems,
  };
}

export function buildStatusReport(g: Gathered): StatusReport {
  return {
    at: g.at,
    statsSocket: g.statsSocket,
    haproxyError: g.haproxy.ok ? null : g.haproxy.error,
    services: g.services.map((s) => serviceReport(s, g.haproxy)),
    partial: !g.haproxy.ok || g.services.some((s) => !s.etcd.ok),
  };
}

const COLUMNS: readonly { readonly title: string; readonly cell: (r: NodeRow) => string }[] = [
  { title: 'NODE', cell: (r) => r.node },
  { title: 'SERVER', cell: (r) => r.server },
  { title: 'ADDRESS', cell: (r) => r.address },
  { title: 'ROLE', cell: (r) => r.role },
  { title: 'HAPROXY', cell: (r) => r.haproxy },
  { title: 'SESS', cell: (r) => (r.sessions === null ? '-' : String(r.sessions)) },
  { title: 'CLUSTERCHECK', cell: (r) => r.clustercheck },
  { title: 'RECV_Q', cell: (r) => (r.recvQueue === null ? '-' : String(r.recvQueue)) },
  { title: 'REASON', cell: (r) => r.reason ?? '' },
];

/** etcd keys, ids, the writer record and clustercheck answers are untrusted: no control character reaches the terminal. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) out += findControlCharacter(ch) === undefined ? ch : '?';
  return out;
}

function table(rows: readonly NodeRow[]): string[] {
  const cells = [COLUMNS.map((c) => c.title), ...rows.map((r) => COLUMNS.map((c) => printable(c.cell(r))))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
  return cells.map((line) => line.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}

/** The report as `patronictl list` would show it: one table per service, problems one line each below. */
export function formatStatusTable(report: StatusReport): string {
  const out: string[] = [];
  for (const s of report.services) {
    const revision = s.revision === null ? 'etcd unreachable' : `etcd revision ${s.revision}`;
    out.push(printable(`service ${s.name} (${s.prefix}, ${revision})`));
    if (s.writerRecord !== null) out.push(printable(`writer record: ${s.writerRecord.value} (epoch ${s.writerRecord.epoch})`));
    out.push(...(s.nodes.length === 0 ? ['(no nodes)'] : table(s.nodes)));
    for (const r of s.rejected) out.push(printable(`rejected: ${r.key}: ${r.reason}`));
    for (const p of s.problems) out.push(printable(`unreachable: ${p}`));
    out.push('');
  }
  if (report.haproxyError !== null) out.push(printable(`unreachable: HAProxy stats socket ${report.statsSocket}: ${report.haproxyError}`), '');
  return `${out.join('\n').trimEnd()}\n`;
}
