/**
 * The clustercheck decision, as a pure function of what mysqld reported, whether the maintenance file
 * exists, and the receive-queue hysteresis. Percona's script answers 200 while `wsrep_reject_queries`
 * makes the node refuse every query, and for a node in a non-Primary partition that is Synced in name;
 * this one does not.
 */
import { DEFAULT_RISE, trackRecvQueue, type LagState, type RecvQueuePolicy } from './recv-queue-lag.js';

/** Galera's `wsrep_local_state` numbers. */
export const WsrepState = {
  joining: 1,
  donorDesynced: 2,
  joined: 3,
  synced: 4,
} as const;

/** The values one status read brings back; null for a value the server does not have. */
export interface WsrepSnapshot {
  /** null when the server has no wsrep status at all (not a Galera node, or wsrep off). */
  readonly wsrepLocalState: number | null;
  readonly wsrepReady: string | null;
  readonly wsrepClusterStatus: string | null;
  readonly wsrepClusterSize: number | null;
  readonly wsrepLocalRecvQueue: number | null;
  readonly readOnly: string | null;
  readonly wsrepRejectQueries: string | null;
  readonly wsrepDesync: string | null;
  readonly wsrepSstDonorRejectsQueries: string | null;
  /** Percona XtraDB Cluster only: null on MariaDB. */
  readonly pxcMaintMode: string | null;
}

export type NodeStatus = { readonly reachable: false; readonly error: string } | ({ readonly reachable: true } & WsrepSnapshot);

export interface HealthPolicy extends RecvQueuePolicy {
  /** Donor/Desynced nodes still take traffic (small clusters where SST must not take a node out). */
  readonly availableWhenDonor: boolean;
  /** Nodes with `read_only=ON` still pass (read-only ports, replicas). */
  readonly availableWhenReadonly: boolean;
}

export type NodeStateName = 'Joining' | 'Donor/Desynced' | 'Joined' | 'Synced' | 'Unknown' | 'Down';

/**
 * Why the answer is what it is: a stable code for machines (JSON body, metric label). Listed in the
 * order they are tested: the first that applies is the one given.
 */
export const HEALTH_REASONS = [
  'maintenance',
  'mysql_unreachable',
  'not_galera',
  'non_primary',
  'not_ready',
  'pxc_maint_mode',
  'desynced',
  'recv_queue',
  'donor_rejects_queries',
  'donor',
  'joining',
  'joined',
  'not_synced',
  'reject_queries',
  'read_only',
  'check_failed',
  'synced',
  'donor_allowed',
  'donor_last_node',
] as const;

export type HealthReason = (typeof HEALTH_REASONS)[number];

export interface HealthVerdict {
  readonly healthy: boolean;
  readonly reason: HealthReason;
  /** One sentence for operators and for the JSON body. */
  readonly message: string;
  readonly state: NodeStateName;
  /** `wsrep_local_state` as reported, null when mysqld did not answer or has no wsrep. */
  readonly wsrepLocalState: number | null;
  readonly wsrepClusterStatus: string | null;
  readonly wsrepLocalRecvQueue: number | null;
}

export interface HealthInput {
  readonly status: NodeStatus;
  /** The maintenance file exists. */
  readonly maintenance: boolean;
  readonly lag: LagState;
}

export interface HealthDecision {
  readonly verdict: HealthVerdict;
  /** The lag state after this read, for the next decision. */
  readonly lag: LagState;
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
const upper = (value: string | null, absent: string): string => (value ?? absent).trim().toUpperCase();

type Finding = readonly [HealthReason, string];

/** The reason a reachable Galera node must not take traffic, or null. Checks run in HEALTH_REASONS order. */
function findProblem(s: WsrepSnapshot, policy: HealthPolicy, lag: LagState): Finding | null {
  const state = s.wsrepLocalState;
  if (state === null) return ['not_galera', 'wsrep_local_state is not reported: not a Galera node'];
  const clusterStatus = s.wsrepClusterStatus ?? 'not reported';
  if (clusterStatus !== 'Primary') {
    return ['non_primary', `wsrep_cluster_status is ${clusterStatus}, not Primary: the node is cut off from the quorum`];
  }
  if (!isOn(s.wsrepReady)) return ['not_ready', `wsrep_ready is ${s.wsrepReady ?? 'not reported'}, not ON`];
  const maint = upper(s.pxcMaintMode, 'DISABLED');
  if (maint !== 'DISABLED') return ['pxc_maint_mode', `pxc_maint_mode is ${maint}, not DISABLED`];
  if (isOn(s.wsrepDesync)) return ['desynced', 'wsrep_desync is ON: the node was taken out of flow control by hand'];
  if (lag.lagging) {
    const max = policy.maxRecvQueue ?? 0;
    const queue = String(s.wsrepLocalRecvQueue);
    return lag.calmReads === 0
      ? ['recv_queue', `wsrep_local_recv_queue is ${queue}, not below ${String(max / 2)} since it passed --max-recv-queue ${String(max)}`]
      : ['recv_queue', `wsrep_local_recv_queue is ${queue}, below ${String(max / 2)} for ${String(lag.calmReads)} of ${String(policy.rise ?? DEFAULT_RISE)} reads`];
  }
  const name = stateName(state);
  if (state === WsrepState.donorDesynced) {
    if (isOn(s.wsrepSstDonorRejectsQueries)) {
      return ['donor_rejects_queries', 'Donor/Desynced with wsrep_sst_donor_rejects_queries ON: the node refuses queries'];
    }
    const lastNode = s.wsrepClusterSize === 1;
    if (!policy.availableWhenDonor && !lastNode) return ['donor', 'wsrep_local_state is 2 (Donor/Desynced), not 4 (Synced)'];
  } else if (state !== WsrepState.synced) {
    const reason: HealthReason = state === WsrepState.joining ? 'joining' : state === WsrepState.joined ? 'joined' : 'not_synced';
    return [reason, `wsrep_local_state is ${String(state)} (${name}), not 4 (Synced)`];
  }
  const reject = upper(s.wsrepRejectQueries, 'NONE');
  if (reject !== 'NONE') return ['reject_queries', `wsrep_reject_queries is ${reject}: the node refuses queries`];
  if (isOn(s.readOnly) && !policy.availableWhenReadonly) return ['read_only', 'read_only is ON'];
  return null;
}

function passing(s: WsrepSnapshot, policy: HealthPolicy): Finding {
  if (s.wsrepLocalState !== WsrepState.donorDesynced) return ['synced', 'Synced and ready'];
  // Percona's OK_IF_DONOR: the last node of the Primary component serves even as a donor, else nothing does.
  return policy.availableWhenDonor
    ? ['donor_allowed', 'Donor/Desynced, allowed by --available-when-donor']
    : ['donor_last_node', 'Donor/Desynced, but the only node of the Primary component (wsrep_cluster_size 1)'];
}

export function decideNodeHealth(input: HealthInput, policy: HealthPolicy): HealthDecision {
  const { status } = input;
  const snapshot = status.reachable ? status : null;
  const lag = trackRecvQueue(input.lag, snapshot?.wsrepLocalRecvQueue ?? null, policy);
  const verdict = (healthy: boolean, [reason, message]: Finding): HealthDecision => ({
    verdict: {
      healthy,
      reason,
      message,
      state: snapshot === null ? 'Down' : stateName(snapshot.wsrepLocalState),
      wsrepLocalState: snapshot?.wsrepLocalState ?? null,
      wsrepClusterStatus: snapshot?.wsrepClusterStatus ?? null,
      wsrepLocalRecvQueue: snapshot?.wsrepLocalRecvQueue ?? null,
    },
    lag,
  });
  // The operator's switch comes first: it is what they expect to read back, whatever else is wrong.
  if (input.maintenance) return verdict(false, ['maintenance', 'the maintenance file exists: the node is taken out by hand']);
  if (!status.reachable) return verdict(false, ['mysql_unreachable', `mysqld did not answer: ${status.error}`]);
  const problem = findProblem(status, policy, lag);
  return problem === null ? verdict(true, passing(status, policy)) : verdict(false, problem);
}

/** The verdict for a check that failed in the shell itself (a bug, not a node state). */
export function failedCheckVerdict(message: string): HealthVerdict {
  return {
    healthy: false,
    reason: 'check_failed',
    message,
    state: 'Unknown',
    wsrepLocalState: null,
    wsrepClusterStatus: null,
    wsrepLocalRecvQueue: null,
  };
}
