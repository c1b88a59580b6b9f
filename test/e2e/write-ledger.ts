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

/**
 * Pairs of committed writes on different nodes whose lifetimes overlap: two nodes taking writes at the
 * same moment. Counted by a sweep over start times, so a long run stays cheap; `examples` keeps the
 * first few for the failure message.
 */
export function concurrentWriters(records: readonly WriteRecord[]): { pairs: number; examples: string[] } {
  const committed = records.filter((r) => r.node !== null).sort((a, b) => a.startedAt - b.startedAt);
  let active: WriteRecord[] = [];
  let pairs = 0;
  const examples: string[] = [];
  for (const r of committed) {
    active = active.filter((a) => a.endedAt > r.startedAt);
    for (const a of active) {
      if (a.node === r.node) continue;
      pairs += 1;
      if (examples.length < 5) {
        examples.push(`${String(a.node)} via proxy ${String(a.proxy)} [${String(a.startedAt)}, ${String(a.endedAt)}] and ${String(r.node)} via proxy ${String(r.proxy)} [${String(r.startedAt)}, ${String(r.endedAt)}]`);
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
