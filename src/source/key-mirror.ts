import type { KeyValue } from '../model/types.js';

/** One change from a watch response, decoded. */
export interface MirrorEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  /** The revision that made this change (etcd's `mod_revision`; for a delete, the delete's revision). */
  readonly revision: bigint;
  /** etcd's `create_revision` of the key (puts only): the model ranks registrations by it. */
  readonly createRevision?: bigint;
}

export interface MirrorDiff {
  /** In the other set, not in the mirror. */
  readonly added: readonly string[];
  /** In the mirror, not in the other set. */
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/**
 * The keys under the prefix as of `revision`. Events at or below the revision already applied are
 * dropped, so a watch resumed one revision too early cannot apply anything twice or out of order.
 * Pure: no I/O, so the resume and dedupe rules are unit-tested with plain values.
 */
export class KeyMirror {
  private readonly entries = new Map<string, KeyValue>();
  private current: bigint = 0n;
  private sorted: readonly KeyValue[] | null = [];
  /** Events applied since the last `reset`, for "every put was seen" accounting. */
  eventsApplied = 0;

  get revision(): bigint {
    return this.current;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Replaces everything with a snapshot taken at `revision`; returns what changed. */
  reset(kvs: readonly KeyValue[], revision: bigint): MirrorDiff {
    const diff = this.diff(kvs);
    this.entries.clear();
    for (const kv of kvs) this.entries.set(kv.key, kv);
    this.current = revision;
    this.sorted = null;
    return diff;
  }

  /**
   * Applies one watch response. Returns true when a key changed. Events of one transaction share a
   * revision, so an event equal to the applied revision is re-applied (idempotent), never skipped.
   */
  apply(events: readonly MirrorEvent[], onApplied?: (event: MirrorEvent) => void): boolean {
    let changed = false;
    for (const event of events) {
      if (event.revision < this.current) continue;
      if (event.type === 'put') {
        const before = this.entries.get(event.key);
        const { key, value, createRevision, revision: modRevision } = event;
        const entry: KeyValue = createRevision === undefined ? { key, value, modRevision } : { key, value, createRevision, modRevision };
        if (before?.value !== event.value || before.createRevision !== event.createRevision) {
          this.entries.set(key, entry);
          changed = true;
        } else if (before.modRevision !== modRevision) {
          // The same bytes put again: no change to decode, but the key's mod_revision (the writer
          // record's epoch) must be the one etcd holds, or a compare-and-swap against it would lose.
          this.entries.set(key, entry);
          this.sorted = null;
        }
      } else if (this.entries.delete(event.key)) {
        changed = true;
      }
      this.eventsApplied += 1;
      this.current = event.revision;
      onApplied?.(event);
    }
    if (changed) this.sorted = null;
    return changed;
  }

  /** A progress notification: nothing under the prefix changed up to `revision`. */
  advance(revision: bigint): void {
    if (revision > this.current) this.current = revision;
  }

  /** Sorted by key; cached until the next change, so repeated reads of a quiet mirror are free. */
  kvs(): readonly KeyValue[] {
    if (this.sorted === null) {
      this.sorted = [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    }
    return this.sorted;
  }

  diff(other: readonly KeyValue[]): MirrorDiff {
    const otherMap = new Map(other.map((kv) => [kv.key, kv]));
    const added: string[] = [];
    const changed: string[] = [];
    for (const [key, kv] of otherMap) {
      const mine = this.entries.get(key);
      if (mine === undefined) added.push(key);
      // A key deleted and put back with the same value is a new registration: it ranks as the latest.
      else if (mine.value !== kv.value || mine.createRevision !== kv.createRevision) changed.push(key);
    }
    const removed = [...this.entries.keys()].filter((key) => !otherMap.has(key));
    return { added, removed, changed };
  }
}

export function isEmptyDiff(diff: MirrorDiff): boolean {
  return diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0;
}

/**
 * The differences between the mirror (at `mirrorRevision`) and a read of etcd (at `etcdRevision`) that
 * events newer than the mirror cannot explain: a key added or changed at or below the mirror's
 * revision, or a key gone although nothing happened after it. Anything listed means the watch missed
 * something; an empty list means the watch may simply not have delivered the newer events yet.
 */
export function listUnexplained(
  diff: MirrorDiff,
  modRevisions: ReadonlyMap<string, bigint>,
  mirrorRevision: bigint,
  etcdRevision: bigint,
): string[] {
  const stale = [...diff.added, ...diff.changed].filter((key) => (modRevisions.get(key) ?? 0n) <= mirrorRevision);
  const gone = etcdRevision <= mirrorRevision ? diff.removed : [];
  return [...stale, ...gone];
}
