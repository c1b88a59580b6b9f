import type { MirrorEvent } from '../../src/source/key-mirror.js';

interface Write {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: bigint;
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

  recordWrite(type: 'put' | 'delete', key: string, revision: bigint): void {
    this.writes.push({ type, key, revision });
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
