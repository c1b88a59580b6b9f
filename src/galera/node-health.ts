/**
 * The clustercheck decision, as a pure function of what mysqld reported. Percona's script answers 200
 * while `wsrep_reject_queries` makes the node refuse every query; this one does not.
 */

/** Galera's `wsrep_local_state` numbers. */
export const WsrepState = {
  joining: 1,
  donorDesynced: 2,
  joined: 3,
  synced: 4,
} as const;

export type NodeStatus =
  | { readonly reachable: false; readonly error: string }
  | {
      readonly reachable: true;
      /** null when the server has no wsrep status at all (not a Galera node, or wsrep off). */
      readonly wsrepLocalState: number | null;
      readonly wsrepReady: string | null;
      readonly readOnly: string | null;
      readonly wsrepRejectQueries: string | null;
      /** Write sets waiting to be applied: a node falling behind (`status` shows it), not a health rule. */
      readonly wsrepLocalRecvQueue?: number;
    };

export interface HealthPolicy {
  /** Donor/Desynced nodes still take traffic (small clusters where SST must not take a node out). */
  readonly availableWhenDonor: boolean;
  /** Nodes with `read_only=ON` still pass (read-only ports, replicas). */
  readonly availableWhenReadonly: boolean;
}

export type NodeStateName = 'Joining' | 'Donor/Desynced' | 'Joined' | 'Synced' | 'Unknown' | 'Down';

export interface HealthVerdict {
  readonly healthy: boolean;
  readonly state: NodeStateName;
  /** `wsrep_local_state` as reported, null when mysqld did not answer or has no wsrep. */
  readonly wsrepLocalState: number | null;
  /** One line for operators and for the JSON body. */
  readonly reason: string;
  /** `wsrep_local_recv_queue`, when mysqld reported it. */
  readonly recvQueue?: number;
}

export function stateName(state: number | null): NodeStateName {
  switch (state) {
    case WsrepState.joining:
      return 'Joining';
    case WsrepState.donorDesynced:
      return 'Donor/Desynced';
    case WsrepState.joined:
      return 'Joined';
    case WsrepState.synced:
      return 'Synced';
    default:
      return 'Unknown';
  }
}

const isOn = (value: string | null): boolean => value !== null && /^(on|1|true)$/i.test(value.trim());

export function decideNodeHealth(status: NodeStatus, policy: HealthPolicy): HealthVerdict {
  if (!status.reachable) {
    return { healthy: false, state: 'Down', wsrepLocalState: null, reason: `mysqld did not answer: ${status.error}` };
  }
  const state = stateName(status.wsrepLocalState);
  const verdict = (healthy: boolean, reason: string): HealthVerdict => ({
    healthy,
    state,
    wsrepLocalState: status.wsrepLocalState,
    reason,
    ...(status.wsrepLocalRecvQueue === undefined ? {} : { recvQueue: status.wsrepLocalRecvQueue }),
  });
  if (status.wsrepLocalState === null) return verdict(false, 'wsrep_local_state is not reported: not a Galera node');
  const donorAllowed = status.wsrepLocalState === WsrepState.donorDesynced && policy.availableWhenDonor;
  if (status.wsrepLocalState !== WsrepState.synced && !donorAllowed) {
    return verdict(false, `wsrep_local_state is ${String(status.wsrepLocalState)} (${state}), not 4 (Synced)`);
  }
  // A Synced node that is not ready (e.g. lost quorum, non-Primary component) refuses queries.
  if (!isOn(status.wsrepReady)) return verdict(false, `wsrep_ready is ${status.wsrepReady ?? 'not reported'}, not ON`);
  const reject = (status.wsrepRejectQueries ?? 'NONE').trim().toUpperCase();
  if (reject !== 'NONE') return verdict(false, `wsrep_reject_queries is ${reject}: the node refuses queries`);
  if (isOn(status.readOnly) && !policy.availableWhenReadonly) return verdict(false, 'read_only is ON');
  return verdict(true, donorAllowed ? 'Donor/Desynced, allowed by --available-when-donor' : 'Synced and ready');
}
