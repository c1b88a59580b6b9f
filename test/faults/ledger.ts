import type { MirrorEvent } from '../../src/source/key-mirror.js';
import { decodeCluster, formatEndpoint } from '../../src/model/decode-cluster.js';

export interface Write {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: bigint;
  /** The value of a put (unknown when the writer did not say). */
  readonly value?: string;
}

export interface Account {
  /** Acknowledged writes in the window. */
  readonly written: number;
  /** Of those, delivered to the mirror as a watch event. */
  readonly seenAsEvents: number;
  /** Not delivered as an event but inside a gap a fresh snapshot replaced (compaction, restart). */
  readonly coveredBySnapshot: number;
  /** Neither: an update the source missed. Must be 0. */
  readonly lost: number;
  /** Events applied more than once. Must be 0. */
  readonly duplicates: number;
}

const id = (type: string, key: string, revision: bigint): string => `${revision}:${type}:${key}`;

/**
 * Books every acknowledged write against what the source applied, to prove "no update lost, none
 * applied twice". A write the watch never delivered is still accounted for when a snapshot replaced
 * the mirror across its revision: that is the documented recovery from compaction or a restart.
 */
export class Ledger {
  private readonly writes: Write[] = [];
  private readonly applied = new Map<string, number>();
  private readonly appliedLog: string[] = [];
  private readonly gaps: Array<{ from: bigint; to: bigint }> = [];
  private lastSeen = 0n;
  maxWritten = 0n;

  recordWrite(type: 'put' | 'delete', key: string, revision: bigint, value?: string): void {
    this.writes.push(value === undefined ? { type, key, revision } : { type, key, revision, value });
    if (revision > this.maxWritten) this.maxWritten = revision;
  }

  recordEvent(event: MirrorEvent): void {
    const k = id(event.type, event.key, event.revision);
    this.applied.set(k, (this.applied.get(k) ?? 0) + 1);
    this.appliedLog.push(k);
    if (event.revision > this.lastSeen) this.lastSeen = event.revision;
  }

  recordSnapshot(revision: bigint): void {
    if (revision > this.lastSeen) {
      this.gaps.push({ from: this.lastSeen, to: revision });
      this.lastSeen = revision;
    }
  }

  /** Every acknowledged write so far, in the order they were acknowledged. */
  allWrites(): readonly Write[] {
    return this.writes;
  }

  mark(): { writes: number; applied: number } {
    return { writes: this.writes.length, applied: this.appliedLog.length };
  }

  account(since: { writes: number; applied: number } = { writes: 0, applied: 0 }): Account {
    let seenAsEvents = 0;
    let coveredBySnapshot = 0;
    let lost = 0;
    for (const w of this.writes.slice(since.writes)) {
      if (this.applied.has(id(w.type, w.key, w.revision))) seenAsEvents += 1;
      else if (this.gaps.some((g) => w.revision > g.from && w.revision <= g.to)) coveredBySnapshot += 1;
      else lost += 1;
    }
    const duplicates = new Set(this.appliedLog.slice(since.applied).filter((k) => (this.applied.get(k) ?? 0) > 1)).size;
    return { written: this.writes.length - since.writes, seenAsEvents, coveredBySnapshot, lost, duplicates };
  }
}

/** What the daemon held after one of its passes that HAProxy took (outcome runtime, reload or noop). */
export interface DaemonPass {
  readonly revision: bigint;
  /** Node id → `address:port`, replayed from the pass's decision lines. */
  readonly nodes: ReadonlyMap<string, string>;
}

export interface DaemonAccount {
  /** Acknowledged writes in the window. */
  readonly written: number;
  /** Shown by at least one daemon pass taken between the write and the next write of its key. */
  readonly shownByPass: number;
  /** Overwritten before the daemon's next pass: folded into a later pass, nothing to show. */
  readonly foldedIntoLaterPass: number;
  /** The daemon passed over the write's revision and never showed it. Must be 0. */
  readonly lost: number;
}

/** The valid nodes (id → endpoint) etcd held at each of `revisions`, replayed from the acknowledged writes. */
function truthAt(prefix: string, writes: readonly Write[], revisions: readonly bigint[]): Map<bigint, Map<string, string>> {
  const ordered = [...writes].sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  const kv = new Map<string, string>();
  const out = new Map<bigint, Map<string, string>>();
  let i = 0;
  for (const revision of [...new Set(revisions)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (; i < ordered.length && (ordered[i] as Write).revision <= revision; i += 1) {
      const w = ordered[i] as Write;
      if (w.type === 'delete') kv.delete(w.key);
      else kv.set(w.key, w.value ?? '');
    }
    const state = decodeCluster(prefix, [...kv].map(([key, value]) => ({ key, value })));
    out.set(revision, new Map(state.nodes.map((n) => [n.id, formatEndpoint(n.address, n.port)])));
  }
  return out;
}

/**
 * Books the acknowledged writes `writes.slice(from)` against what the daemon itself did, not what a
 * source of the harness saw. A write is shown when some daemon pass between its revision and the next
 * write of the same key held that key's node as etcd did at the pass's revision; it is lost when the
 * daemon ran passes in that window and none held it (an event the daemon dropped leaves its old node in
 * place). A put the writer saw fail but etcd kept is unknown here and can be counted as lost: the bound
 * is conservative.
 */
export function accountDaemon(prefix: string, writes: readonly Write[], from: number, passes: readonly DaemonPass[]): DaemonAccount {
  const sorted = [...passes].sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  const truth = truthAt(prefix, writes, sorted.map((p) => p.revision));
  const idOf = (key: string): string => key.slice(prefix.length + 1).split('/')[0] ?? key;
  /** Index of the first pass at or after `revision`. */
  const firstFrom = (revision: bigint): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((sorted[mid] as DaemonPass).revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const revisionsOf = new Map<string, bigint[]>();
  for (const w of writes) revisionsOf.set(w.key, [...(revisionsOf.get(w.key) ?? []), w.revision]);
  let shownByPass = 0;
  let foldedIntoLaterPass = 0;
  let lost = 0;
  const window = writes.slice(from);
  for (const w of window) {
    const next = (revisionsOf.get(w.key) ?? []).filter((r) => r > w.revision).reduce<bigint | null>((m, r) => (m === null || r < m ? r : m), null);
    const inWindow: DaemonPass[] = [];
    for (let i = firstFrom(w.revision); i < sorted.length && (next === null || (sorted[i] as DaemonPass).revision < next); i += 1) inWindow.push(sorted[i] as DaemonPass);
    if (inWindow.length === 0) {
      foldedIntoLaterPass += 1;
      continue;
    }
    const id = idOf(w.key);
    if (inWindow.some((p) => p.nodes.get(id) === truth.get(p.revision)?.get(id))) shownByPass += 1;
    else lost += 1;
  }
  return { written: window.length, shownByPass, foldedIntoLaterPass, lost };
}
