import type { Etcd3 } from 'etcd3';
import type { MirrorEvent } from './key-mirror.js';
import type { ClusterSource } from './types.js';

/** Counters for tests and benchmarks: what the source did, not what etcd holds. */
export interface EtcdSourceStats {
  /** Watch events applied to the mirror (puts and deletes). */
  readonly eventsApplied: number;
  /** Snapshots taken after the first (compaction, resync difference, watch cancel). */
  readonly resnapshots: number;
  /** Periodic resyncs that found the mirror different from etcd (should stay 0). */
  readonly resyncDifferences: number;
  readonly watchDisconnects: number;
  /** Watches rebuilt on a new client because they stalled (not attached, or not delivering). */
  readonly watchRebuilds: number;
  /** Times etcd's revision was found below the mirror's (restored data), each followed by a snapshot. */
  readonly revisionRewinds: number;
}

export interface EtcdClusterSource extends ClusterSource {
  stats(): EtcdSourceStats;
  /**
   * Forces the periodic comparison with etcd's latest state now; resolves true when the mirror matched
   * (differences newer writes explain, and the watch delivers, count as a match), false when it had
   * to rebuild the watch or could not read etcd.
   */
  resyncNow(): Promise<boolean>;
}

/** Collaborators a caller may supply; tests use the hooks to account for every event. */
export interface EtcdSourceDeps {
  /** A client built elsewhere (it is closed by `close()`). @default createEtcdClient(options) */
  readonly client?: Etcd3;
  /** Each watch event the mirror applied, in order. */
  readonly onEvent?: (event: MirrorEvent) => void;
  /** Each snapshot installed, with the revision the mirror had before it (0 for the first). */
  readonly onSnapshot?: (revision: bigint, previousRevision: bigint) => void;
}
