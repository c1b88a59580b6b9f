import type { KeyValue } from '../model/types.js';
import type { WatchState } from './watch-liveness.js';

/** A consistent view of every key under the prefix, as of one etcd revision. */
export interface SourceView {
  readonly revision: string;
  readonly kvs: readonly KeyValue[];
  /** What produced this view: the first read, a watch event batch, a periodic resync or a recovery. */
  readonly cause: 'snapshot' | 'watch' | 'resync' | 'recovery';
}

/** Connection health, for logs and the status endpoint. */
export interface SourceHealth {
  readonly connected: boolean;
  /** Epoch ms when etcd last answered anything (response, event or progress notification), or null. */
  readonly lastHeardAt: number | null;
  /** The mirror's revision: every change under the prefix up to it has been applied. */
  readonly revision: string | null;
  readonly lastError: string | null;
  /** Whether the watch is attached, and when it was last known to be delivering. */
  readonly watch: WatchState;
}

export interface SourceListener {
  /** Called after each change to the mirrored keys; cheap: the daemon debounces and reads `view`. */
  onChange(view: SourceView): void;
  /** Transitions, and at most once a second while etcd answers (so last-heard and revision move). */
  onHealth?(health: SourceHealth): void;
}

/**
 * A mirror of the keys under one prefix: a snapshot at one revision, then a watch from revision + 1,
 * resumed after disconnects and re-snapshotted after compaction.
 */
export interface ClusterSource {
  /** One consistent read of the prefix (used by `once` and `render`). */
  readOnce(): Promise<SourceView>;
  /** Snapshot then watch; resolves once the first snapshot has been delivered, keeps retrying after. */
  start(listener: SourceListener): Promise<void>;
  health(): SourceHealth;
  close(): Promise<void>;
}
