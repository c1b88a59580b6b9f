import { describe, expect, it } from 'vitest';
import { toSnapshot } from './mysql-status.js';

const rows = (pairs: Record<string, string | null>): { Variable_name: string; Value: string | null }[] =>
  Object.entries(pairs).map(([name, value]) => ({ Variable_name: name, Value: value }));

describe('toSnapshot', () => {
  it('reads both result sets, numbers as numbers', () => {
    const snapshot = toSnapshot(
      rows({
        wsrep_local_state: '4',
        wsrep_ready: 'ON',
        wsrep_cluster_status: 'Primary',
        wsrep_cluster_size: '3',
        wsrep_local_recv_queue: '17',
      }),
      rows({
        read_only: 'OFF',
        wsrep_reject_queries: 'NONE',
        wsrep_desync: 'OFF',
        wsrep_sst_donor_rejects_queries: 'OFF',
        pxc_maint_mode: 'DISABLED',
      }),
    );
    expect(snapshot).toEqual({
      wsrepLocalState: 4,
      wsrepReady: 'ON',
      wsrepClusterStatus: 'Primary',
      wsrepClusterSize: 3,
      wsrepLocalRecvQueue: 17,
      readOnly: 'OFF',
      wsrepRejectQueries: 'NONE',
      wsrepDesync: 'OFF',
      wsrepSstDonorRejectsQueries: 'OFF',
      pxcMaintMode: 'DISABLED',
    });
  });

  it('gives null for what the server does not have (MariaDB has no pxc_maint_mode) and for garbage numbers', () => {
    const snapshot = toSnapshot(rows({ wsrep_local_state: '', wsrep_local_recv_queue: 'many' }), rows({ read_only: 'ON' }));
    expect(snapshot).toMatchObject({ wsrepLocalState: null, wsrepLocalRecvQueue: null, pxcMaintMode: null, readOnly: 'ON', wsrepClusterStatus: null });
  });

  it('takes a missing result set as an empty one', () => {
    expect(toSnapshot(undefined, undefined).wsrepLocalState).toBeNull();
  });
});
