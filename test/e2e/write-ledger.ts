/**
 * What the writers did, from the clients' side: every write through every proxy, with the node that
 * committed it (`@@wsrep_node_name` read in the same transaction). "At most one node takes writes at
 * every moment" is then a property of this ledger, not of any daemon's view.
 */
export interface WriteRecord {
  /** Which proxy the client went through. */
  readonly proxy: number;
  /** Wall-clock ms when the client started the write (connect included) and when the commit returned. */
  readonly startedAt: number;
  readonly endedAt: number;
  /**
   * When the connection was up and the INSERT went out: the commit happened in [writeStartedAt, endedAt].
   * A connect may wait in HAProxy (the single-writer hold) before any node is chosen; that wait is no
   * write. Absent for a write that failed before it.
   */
  readonly writeStartedAt?: number;
  /** The node that committed it; null when the write failed. */
  readonly node: string | null;
  /** The error's code or message for a failed write. */
  readonly error: string | null;
}

export interface WriterSegment {
  readonly node: string;
  readonly first: number;
  readonly last: number;
  readonly writes: number;
}

/**
 * Committed writes in commit order, folded into runs on one node. A healthy history is one segment per
 * writer epoch; a node that appears twice took writes back (or two nodes alternated).
 */
export function writerSegments(records: readonly WriteRecord[]): WriterSegment[] {
  const committed = records.filter((r) => r.node !== null).sort((a, b) => a.endedAt - b.endedAt);
  const segments: { node: string; first: number; last: number; writes: number }[] = [];
  for (const r of committed) {
    const node = r.node ?? '';
    const current = segments.at(-1);
    if (current !== undefined && current.node === node) {
      current.last = r.endedAt;
      current.writes += 1;
    } else {
      segments.push({ node, first: r.endedAt, last: r.endedAt, writes: 1 });
    }
  }
  return segments;
}

/** The span in which a committed write took effect on its node: from the INSERT sent to the commit. */
const writeStart = (r: WriteRecord): number => r.writeStartedAt ?? r.startedAt;

/**
 * Pairs of committed writes on different nodes whose write spans overlap: two nodes taking writes at
 * the same moment. Counted by a sweep over start times, so a long run stays cheap; `examples` keeps the
 * first few for the failure message.
 */
export function concurrentWriters(records: readonly WriteRecord[]): { pairs: number; examples: string[] } {
  const committed = records.filter((r) => r.node !== null).sort((a, b) => writeStart(a) - writeStart(b));
  let active: WriteRecord[] = [];
  let pairs = 0;
  const examples: string[] = [];
  for (const r of committed) {
    active = active.filter((a) => a.endedAt > writeStart(r));
    for (const a of active) {
      if (a.node === r.node) continue;
      pairs += 1;
      if (examples.length < 5) {
        examples.push(`${String(a.node)} via proxy ${String(a.proxy)} [${String(writeStart(a))}, ${String(a.endedAt)}] and ${String(r.node)} via proxy ${String(r.proxy)} [${String(writeStart(r))}, ${String(r.endedAt)}]`);
      }
    }
    active.push(r);
  }
  return { pairs, examples };
}

/** Failed writes by error, for the scenario table. */
export function failuresByError(records: readonly WriteRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) {
    if (r.node !== null) continue;
    const key = r.error ?? 'unknown';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
