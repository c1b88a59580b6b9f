import { describe, expect, it } from 'vitest';
import { decideNodeHealth, type HealthPolicy, type NodeStatus } from './node-health.js';

const strict: HealthPolicy = { availableWhenDonor: false, availableWhenReadonly: false };
const synced = (overrides: Partial<Extract<NodeStatus, { reachable: true }>> = {}): NodeStatus => ({
  reachable: true,
  wsrepLocalState: 4,
  wsrepReady: 'ON',
  readOnly: 'OFF',
  wsrepRejectQueries: 'NONE',
  ...overrides,
});

describe('decideNodeHealth', () => {
  it('passes a Synced, ready, writable node', () => {
    const verdict = decideNodeHealth(synced(), strict);
    expect(verdict).toMatchObject({ healthy: true, state: 'Synced', wsrepLocalState: 4 });
    expect(verdict.recvQueue).toBeUndefined();
  });

  it('passes wsrep_local_recv_queue through for status, whatever the verdict', () => {
    expect(decideNodeHealth(synced({ wsrepLocalRecvQueue: 12 }), strict).recvQueue).toBe(12);
    expect(decideNodeHealth(synced({ wsrepLocalState: 2, wsrepLocalRecvQueue: 3 }), strict)).toMatchObject({ healthy: false, recvQueue: 3 });
  });

  it.each([
    [1, 'Joining'],
    [2, 'Donor/Desynced'],
    [3, 'Joined'],
  ])('fails wsrep_local_state %i (%s)', (state, name) => {
    const verdict = decideNodeHealth(synced({ wsrepLocalState: state }), strict);
    expect(verdict.healthy).toBe(false);
    expect(verdict.state).toBe(name);
    expect(verdict.reason).toContain(String(state));
  });

  it('passes a donor only when allowed', () => {
    const donor = synced({ wsrepLocalState: 2 });
    expect(decideNodeHealth(donor, { ...strict, availableWhenDonor: true })).toMatchObject({
      healthy: true,
      state: 'Donor/Desynced',
    });
    expect(decideNodeHealth(synced({ wsrepLocalState: 1 }), { ...strict, availableWhenDonor: true }).healthy).toBe(false);
  });

  it('fails a Synced node that is not ready', () => {
    expect(decideNodeHealth(synced({ wsrepReady: 'OFF' }), strict)).toMatchObject({ healthy: false });
    expect(decideNodeHealth(synced({ wsrepReady: null }), strict).reason).toContain('wsrep_ready');
  });

  it('fails read_only=ON unless allowed', () => {
    expect(decideNodeHealth(synced({ readOnly: 'ON' }), strict)).toMatchObject({ healthy: false, reason: 'read_only is ON' });
    expect(decideNodeHealth(synced({ readOnly: 'ON' }), { ...strict, availableWhenReadonly: true }).healthy).toBe(true);
  });

  it.each(['ALL', 'ALL_KILL'])('fails wsrep_reject_queries=%s even when everything else is fine', (mode) => {
    const verdict = decideNodeHealth(synced({ wsrepRejectQueries: mode }), {
      availableWhenDonor: true,
      availableWhenReadonly: true,
    });
    expect(verdict.healthy).toBe(false);
    expect(verdict.reason).toContain(mode);
  });

  it('treats a missing wsrep_reject_queries (MySQL/PXC) as NONE', () => {
    expect(decideNodeHealth(synced({ wsrepRejectQueries: null }), strict).healthy).toBe(true);
  });

  it('fails a server without wsrep status', () => {
    expect(decideNodeHealth(synced({ wsrepLocalState: null }), strict)).toMatchObject({ healthy: false, state: 'Unknown' });
  });

  it('fails when mysqld is down, keeping the error', () => {
    const verdict = decideNodeHealth({ reachable: false, error: 'connect ECONNREFUSED' }, strict);
    expect(verdict).toMatchObject({ healthy: false, state: 'Down', wsrepLocalState: null });
    expect(verdict.reason).toContain('ECONNREFUSED');
  });
});
