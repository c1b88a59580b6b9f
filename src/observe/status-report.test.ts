import { describe, expect, it } from 'vitest';
import { decodeCluster } from '../model/decode-cluster.js';
import { findControlCharacter } from '../model/validate-address.js';
import { buildStatusReport, formatStatusTable, haproxyWord, type Gathered, type GatheredService, type HaproxyServer } from './status-report.js';

const P = '/components/galera/';
const state = decodeCluster(P, [
  { key: `${P}a/ip`, value: '10.0.0.1' },
  { key: `${P}a/host`, value: 'db1' },
  { key: `${P}b/ip`, value: '10.0.0.2' },
  { key: `${P}c/ip`, value: '10.0.0.3' },
  { key: `${P}c/draining`, value: 'true' },
  { key: `${P}d/ip`, value: '10.0.0.4' },
  { key: `${P}d/backup`, value: 'true' },
  { key: `${P}e/ip`, value: '10.0.0.256' },
]);

const server = (name: string, status: string, sessions = 0): HaproxyServer => ({ backend: 'galera', name, address: '', status, sessions });
const SERVERS = [server('db1', 'UP', 3), server('b', 'UP 1/3', 1), server('c', 'DRAIN', 2), server('d', 'no check'), server('old', 'DRAIN', 1)];

function gathered(overrides: Partial<GatheredService> = {}, haproxy: Gathered['haproxy'] = { ok: true, value: SERVERS }): Gathered {
  const service: GatheredService = {
    name: 'galera',
    prefix: P,
    writerMode: 'single',
    etcd: { ok: true, value: { revision: '57', state, writerRecord: { value: '{"node":"a"}', epoch: '41' } } },
    checks: {
      a: { url: 'http://10.0.0.1:9200/', answer: { ok: true, value: { httpStatus: 200, state: 'Synced', recvQueue: 0 } } },
      b: { url: 'http://10.0.0.2:9200/', answer: { ok: true, value: { httpStatus: 503, state: 'Donor/Desynced', recvQueue: 12, reason: 'node is a donor (wsrep_local_state 2)' } } },
      c: { url: 'http://10.0.0.3:9200/', answer: { ok: false, error: 'connect ECONNREFUSED 10.0.0.3:9200' } },
      d: { url: 'http://10.0.0.4:9200/', answer: { ok: true, value: { httpStatus: 200 } } },
    },
    ...overrides,
  };
  return { at: '2026-12-07T01:00:00.000Z', statsSocket: '/run/haproxy/admin.sock', haproxy, services: [service] };
}

describe('buildStatusReport', () => {
  it('gives every node its role, HAProxy view and clustercheck view', () => {
    const report = buildStatusReport(gathered());
    expect(report.partial).toBe(false);
    const rows = report.services[0]?.nodes ?? [];
    expect(rows.map((r) => [r.node, r.server, r.role, r.haproxy, r.sessions, r.clustercheck, r.recvQueue])).toEqual([
      ['b', 'b', 'reader', 'UP', 1, 'Donor/Desynced', 12],
      ['c', 'c', 'draining', 'DRAIN', 2, 'unreachable', null],
      ['d', 'd', 'backup', 'UP', 0, 'HTTP 200', null],
      ['a', 'db1', 'writer', 'UP', 3, 'Synced', 0],
      // In HAProxy, gone from etcd: on its way out.
      ['old', 'old', 'leaving', 'DRAIN', 1, '-', null],
    ]);
    expect(rows[0]?.reason).toBe('node is a donor (wsrep_local_state 2)');
    expect(rows[3]?.reason).toBeUndefined();
    expect(report.services[0]?.problems).toEqual(['c: clustercheck http://10.0.0.3:9200/: connect ECONNREFUSED 10.0.0.3:9200']);
    expect(report.services[0]?.rejected.map((r) => r.key)).toEqual([`${P}e/ip`]);
  });

  it('in multi-writer mode every active node is a writer; the writer of single mode is the first UP server', () => {
    const multi = buildStatusReport(gathered({ writerMode: 'multi' })).services[0]?.nodes.map((r) => r.role);
    expect(multi).toEqual(['writer', 'draining', 'backup', 'writer', 'leaving']);
    const reordered = buildStatusReport(gathered({}, { ok: true, value: [server('b', 'UP'), server('db1', 'UP')] }));
    expect(reordered.services[0]?.nodes.find((r) => r.node === 'b')?.role).toBe('writer');
    // The write listener gives every server but the writer weight 0: the first UP one with a weight is it.
    const weighted = buildStatusReport(gathered({}, { ok: true, value: [{ ...server('b', 'UP'), weight: 0 }, { ...server('db1', 'UP'), weight: 5 }] }));
    expect(weighted.services[0]?.nodes.filter((r) => r.role === 'writer' || r.role === 'reader').map((r) => [r.node, r.role])).toEqual([
      ['b', 'reader'],
      ['a', 'writer'],
    ]);
  });

  it('shows an unreachable stats socket as one word per cell and one line, and is partial', () => {
    const report = buildStatusReport(gathered({}, { ok: false, error: 'connect ENOENT /run/haproxy/admin.sock' }));
    expect(report.partial).toBe(true);
    expect(report.haproxyError).toBe('connect ENOENT /run/haproxy/admin.sock');
    expect(report.services[0]?.nodes.map((r) => [r.haproxy, r.role])).toEqual([
      ['unreachable', 'unknown'],
      ['unreachable', 'draining'],
      ['unreachable', 'backup'],
      ['unreachable', 'unknown'],
    ]);
    const text = formatStatusTable(report);
    expect(text).toContain('unreachable: HAProxy stats socket /run/haproxy/admin.sock: connect ENOENT /run/haproxy/admin.sock\n');
  });

  it('shows unreachable etcd as the service\'s one line, and the table is empty', () => {
    const report = buildStatusReport(gathered({ etcd: { ok: false, error: 'etcd did not answer within 3000 ms' } }));
    expect(report.partial).toBe(true);
    expect(formatStatusTable(report)).toBe(
      [`service galera (${P}, etcd unreachable)`, '(no nodes)', `unreachable: etcd ${P}: etcd did not answer within 3000 ms`, ''].join('\n'),
    );
  });
});

describe('formatStatusTable', () => {
  it('prints one aligned table per service, the writer record, rejections and problems', () => {
    const text = formatStatusTable(buildStatusReport(gathered()));
    expect(text).toBe(
      [
        `service galera (${P}, etcd revision 57)`,
        'writer record: {"node":"a"} (epoch 41)',
        'NODE  SERVER  ADDRESS        ROLE      HAPROXY  SESS  CLUSTERCHECK    RECV_Q  REASON',
        'b     b       10.0.0.2:3306  reader    UP       1     Donor/Desynced  12      node is a donor (wsrep_local_state 2)',
        'c     c       10.0.0.3:3306  draining  DRAIN    2     unreachable     -',
        'd     d       10.0.0.4:3306  backup    UP       0     HTTP 200        -',
        'a     db1     10.0.0.1:3306  writer    UP       3     Synced          0',
        'old   old                    leaving   DRAIN    1     -               -',
        `rejected: ${P}e/ip: ` + (buildStatusReport(gathered()).services[0]?.rejected[0]?.reason ?? ''),
        'unreachable: c: clustercheck http://10.0.0.3:9200/: connect ECONNREFUSED 10.0.0.3:9200',
        '',
      ].join('\n'),
    );
  });

  it('lets no control character from etcd reach the terminal', () => {
    const hostile = decodeCluster(P, [{ key: `${P}evil\u001b[2Jid`, value: '10.0.0.9' }]);
    const report = buildStatusReport(gathered({ etcd: { ok: true, value: { revision: '1', state: hostile, writerRecord: { value: '{"x":"\u001b]0;owned\u0007"}', epoch: '2' } } } }));
    const text = formatStatusTable(report);
    expect(text.split('\n').map((line) => findControlCharacter(line))).toEqual(text.split('\n').map(() => undefined));
    expect(text).toContain('evil?[2Jid');
  });

  it('the JSON form carries the same report', () => {
    const report = buildStatusReport(gathered());
    const json = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(json.services[0]?.writerRecord).toEqual({ value: '{"node":"a"}', epoch: '41' });
    expect(json.services[0]?.nodes.find((n) => n.node === 'c')).toMatchObject({ role: 'draining', haproxy: 'DRAIN', clustercheck: 'unreachable' });
  });
});

describe('haproxyWord', () => {
  it.each([
    ['UP', 'UP'],
    ['UP 1/3', 'UP'],
    ['no check', 'UP'],
    ['DOWN 1/2', 'DOWN'],
    ['DRAIN', 'DRAIN'],
    ['DRAIN (agent)', 'DRAIN'],
    ['MAINT (resolution)', 'MAINT'],
    ['NOLB', 'NOLB'],
  ])('%s → %s', (status, word) => expect(haproxyWord(status)).toBe(word));
});
