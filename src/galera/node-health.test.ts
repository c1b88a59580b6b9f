import { describe, expect, it } from 'vitest';
import { decideNodeHealth, type HealthPolicy, type HealthReason, type NodeStatus, type WsrepSnapshot } from './node-health.js';
import { NOT_LAGGING, type LagState } from './recv-queue-lag.js';

const strict: HealthPolicy = { availableWhenDonor: false, availableWhenReadonly: false };
const lenient: HealthPolicy = { availableWhenDonor: true, availableWhenReadonly: true };

/** What a healthy node of a 3-node MariaDB cluster reports. */
const synced = (overrides: Partial<WsrepSnapshot> = {}): NodeStatus => ({
  reachable: true,
  wsrepLocalState: 4,
  wsrepReady: 'ON',
  wsrepClusterStatus: 'Primary',
  wsrepClusterSize: 3,
  wsrepLocalRecvQueue: 0,
  readOnly: 'OFF',
  wsrepRejectQueries: 'NONE',
  wsrepDesync: 'OFF',
  wsrepSstDonorRejectsQueries: 'OFF',
  pxcMaintMode: null,
  ...overrides,
});

const decide = (status: NodeStatus, policy = strict, extra: { maintenance?: boolean; lag?: LagState } = {}) =>
  decideNodeHealth({ status, maintenance: extra.maintenance ?? false, lag: extra.lag ?? NOT_LAGGING }, policy).verdict;

describe('decideNodeHealth', () => {
  it('passes a Synced, ready, writable node of the Primary component', () => {
    expect(decide(synced())).toMatchObject({
      healthy: true,
      reason: 'synced',
      state: 'Synced',
      wsrepLocalState: 4,
      wsrepClusterStatus: 'Primary',
      wsrepLocalRecvQueue: 0,
    });
  });

  // One row per cause of a 503 that a lenient policy cannot waive: the reason and a word of the message.
  it.each<[string, Partial<WsrepSnapshot>, HealthReason, string]>([
    ['a non-Primary partition', { wsrepClusterStatus: 'non-Primary', wsrepReady: 'OFF' }, 'non_primary', 'non-Primary'],
    ['a Disconnected node', { wsrepClusterStatus: 'Disconnected' }, 'non_primary', 'Disconnected'],
    ['wsrep_ready OFF', { wsrepReady: 'OFF' }, 'not_ready', 'wsrep_ready is OFF'],
    ['wsrep_ready missing', { wsrepReady: null }, 'not_ready', 'not reported'],
    ['pxc_maint_mode MAINTENANCE', { pxcMaintMode: 'MAINTENANCE' }, 'pxc_maint_mode', 'MAINTENANCE'],
    ['pxc_maint_mode SHUTDOWN', { pxcMaintMode: 'SHUTDOWN' }, 'pxc_maint_mode', 'SHUTDOWN'],
    ['wsrep_desync ON', { wsrepDesync: 'ON', wsrepLocalState: 2 }, 'desynced', 'wsrep_desync'],
    ['a donor rejecting queries', { wsrepLocalState: 2, wsrepSstDonorRejectsQueries: 'ON' }, 'donor_rejects_queries', 'wsrep_sst_donor_rejects_queries'],
    ['Joining', { wsrepLocalState: 1 }, 'joining', 'Joining'],
    ['Joined', { wsrepLocalState: 3 }, 'joined', 'Joined'],
    ['an unknown state', { wsrepLocalState: 0 }, 'not_synced', 'wsrep_local_state is 0'],
    ['wsrep_reject_queries ALL', { wsrepRejectQueries: 'ALL' }, 'reject_queries', 'ALL'],
    ['wsrep_reject_queries ALL_KILL', { wsrepRejectQueries: 'all_kill' }, 'reject_queries', 'ALL_KILL'],
    ['no wsrep status', { wsrepLocalState: null }, 'not_galera', 'not a Galera node'],
  ])('fails %s even with every --available-when switch', (_, overrides, reason, word) => {
    for (const policy of [strict, lenient]) {
      const verdict = decide(synced(overrides), policy);
      expect(verdict).toMatchObject({ healthy: false, reason });
      expect(verdict.message).toContain(word);
    }
  });

  it('fails a donor, passes it with --available-when-donor', () => {
    const donor = synced({ wsrepLocalState: 2 });
    expect(decide(donor)).toMatchObject({ healthy: false, reason: 'donor', state: 'Donor/Desynced' });
    expect(decide(donor, { ...strict, availableWhenDonor: true })).toMatchObject({ healthy: true, reason: 'donor_allowed' });
  });

  it('passes the last node of the Primary component as a donor (OK_IF_DONOR), but not when it rejects queries', () => {
    const lastDonor = { wsrepLocalState: 2, wsrepClusterSize: 1 };
    expect(decide(synced(lastDonor))).toMatchObject({ healthy: true, reason: 'donor_last_node' });
    expect(decide(synced({ ...lastDonor, wsrepSstDonorRejectsQueries: 'ON' }))).toMatchObject({ healthy: false, reason: 'donor_rejects_queries' });
    // wsrep_desync is an operator's request, honoured on the last node too.
    expect(decide(synced({ ...lastDonor, wsrepDesync: 'ON' }))).toMatchObject({ healthy: false, reason: 'desynced' });
    // A lone node outside the Primary component is no reason to serve.
    expect(decide(synced({ ...lastDonor, wsrepClusterStatus: 'non-Primary' }))).toMatchObject({ healthy: false, reason: 'non_primary' });
  });

  it('ignores wsrep_sst_donor_rejects_queries on a node that is not a donor', () => {
    expect(decide(synced({ wsrepSstDonorRejectsQueries: 'ON' }))).toMatchObject({ healthy: true, reason: 'synced' });
  });

  it('fails read_only=ON unless allowed', () => {
    expect(decide(synced({ readOnly: 'ON' }))).toMatchObject({ healthy: false, reason: 'read_only', message: 'read_only is ON' });
    expect(decide(synced({ readOnly: 'ON' }), { ...strict, availableWhenReadonly: true }).healthy).toBe(true);
  });

  it('treats what MariaDB or MySQL does not have as its neutral value', () => {
    // pxc_maint_mode is Percona's; wsrep_reject_queries and wsrep_desync are missing on older servers.
    const verdict = decide(synced({ pxcMaintMode: null, wsrepRejectQueries: null, wsrepDesync: null, wsrepSstDonorRejectsQueries: null }));
    expect(verdict).toMatchObject({ healthy: true, reason: 'synced' });
    expect(decide(synced({ pxcMaintMode: 'DISABLED' })).healthy).toBe(true);
  });

  it('fails when mysqld is down, keeping the error', () => {
    const verdict = decide({ reachable: false, error: 'connect ECONNREFUSED' });
    expect(verdict).toMatchObject({ healthy: false, reason: 'mysql_unreachable', state: 'Down', wsrepLocalState: null, wsrepLocalRecvQueue: null });
    expect(verdict.message).toContain('ECONNREFUSED');
  });

  it('answers maintenance while the file exists, before anything else', () => {
    expect(decide(synced(), lenient, { maintenance: true })).toMatchObject({ healthy: false, reason: 'maintenance', state: 'Synced' });
    expect(decide({ reachable: false, error: 'gone' }, strict, { maintenance: true }).reason).toBe('maintenance');
    expect(decide(synced({ wsrepClusterStatus: 'non-Primary' }), strict, { maintenance: true }).reason).toBe('maintenance');
  });

  it('fails a lagging node, even a donor allowed by the switch, and reports the queue', () => {
    const policy: HealthPolicy = { ...lenient, maxRecvQueue: 100, rise: 2 };
    const verdict = decide(synced({ wsrepLocalRecvQueue: 101 }), policy);
    expect(verdict).toMatchObject({ healthy: false, reason: 'recv_queue', wsrepLocalRecvQueue: 101 });
    expect(verdict.message).toContain('101');
    expect(decide(synced({ wsrepLocalState: 2, wsrepLocalRecvQueue: 500 }), policy).reason).toBe('recv_queue');
    expect(decide(synced({ wsrepLocalRecvQueue: 100 }), policy)).toMatchObject({ healthy: true, wsrepLocalRecvQueue: 100 });
  });

  it('holds a lagging node out until the queue stayed below half for rise reads, carrying the state along', () => {
    const policy: HealthPolicy = { ...strict, maxRecvQueue: 100, rise: 2 };
    let lag = NOT_LAGGING;
    const answers: string[] = [];
    for (const queue of [500, 80, 20, 20, 20]) {
      const decision = decideNodeHealth({ status: synced({ wsrepLocalRecvQueue: queue }), maintenance: false, lag }, policy);
      lag = decision.lag;
      answers.push(`${String(queue)}:${decision.verdict.reason}`);
    }
    expect(answers).toEqual(['500:recv_queue', '80:recv_queue', '20:recv_queue', '20:synced', '20:synced']);
  });

  it('keeps counting calm reads while another reason answers, so the node is not held out twice', () => {
    const policy: HealthPolicy = { ...strict, maxRecvQueue: 100, rise: 2 };
    let lag: LagState = { lagging: true, calmReads: 0 };
    for (const overrides of [{ readOnly: 'ON' }, { wsrepDesync: 'ON' }]) {
      const decision = decideNodeHealth({ status: synced({ wsrepLocalRecvQueue: 0, ...overrides }), maintenance: false, lag }, policy);
      lag = decision.lag;
    }
    expect(lag).toEqual(NOT_LAGGING);
  });
});
