/**
 * Hysteresis on `wsrep_local_recv_queue`, as a pure step function. A node whose apply queue passed the
 * limit is "lagging" until the queue has stayed below half the limit for `rise` reads in a row: a node
 * hovering around the limit would otherwise flap in and out of HAProxy and serve stale reads each time.
 */

export interface RecvQueuePolicy {
  /** Lagging above this many write-sets waiting to be applied; absent: never lagging. */
  readonly maxRecvQueue?: number;
  /** Consecutive reads below half the limit before a lagging node passes again. @default 3 */
  readonly rise?: number;
}

export interface LagState {
  readonly lagging: boolean;
  /** Consecutive reads below half the limit since the node started lagging. */
  readonly calmReads: number;
}

export const NOT_LAGGING: LagState = { lagging: false, calmReads: 0 };

export const DEFAULT_RISE = 3;

/**
 * One read's effect on the lag state. A read that did not report the queue (mysqld down, not a Galera
 * node) leaves the state as it was: no news is not evidence that the node caught up.
 */
export function trackRecvQueue(state: LagState, queue: number | null, policy: RecvQueuePolicy): LagState {
  const max = policy.maxRecvQueue;
  if (max === undefined) return NOT_LAGGING;
  if (queue === null) return state;
  if (queue > max) return { lagging: true, calmReads: 0 };
  if (!state.lagging) return NOT_LAGGING;
  if (queue >= max / 2) return { lagging: true, calmReads: 0 };
  const calmReads = state.calmReads + 1;
  return calmReads >= (policy.rise ?? DEFAULT_RISE) ? NOT_LAGGING : { lagging: true, calmReads };
}
