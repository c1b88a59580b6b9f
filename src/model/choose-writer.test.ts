import { describe, expect, it } from 'vitest';
import { decideWriter, planSwitchover, switchoverReadiness, writerCandidates, writerHoldProblem } from './choose-writer.js';
import type { GaleraNode } from './types.js';
import type { ReadRecord } from './writer-record.js';

const node = (name: string, extra: Partial<GaleraNode> = {}): GaleraNode => ({
  id: `uuid-${name}`,
  name,
  address: '10.0.0.1',
  port: 3306,
  weight: 1,
  backup: false,
  keys: [`/p/uuid-${name}/ip`],
  ...extra,
});

const record = (nodeId: string, epoch = 7n): ReadRecord => ({ kind: 'ok', record: { node: nodeId, by: 'proxy-a', reason: 'test' }, epoch });
const up = (...names: string[]): ReadonlySet<string> => new Set(names);
const names = (nodes: readonly GaleraNode[]): string[] => nodes.map((n) => n.name);

describe('writerCandidates', () => {
  it('orders by priority, higher first, then by server name', () => {
    const nodes = [node('db3'), node('db1'), node('db2', { priority: 5 }), node('db4', { priority: 5 })];
    expect(names(writerCandidates(nodes, up('db1', 'db2', 'db3', 'db4')))).toEqual(['db2', 'db4', 'db1', 'db3']);
  });

  it('leaves out priority 0 (never the writer), weight 0 and nodes not UP here', () => {
    const nodes = [node('db1', { priority: 0 }), node('db2', { weight: 0 }), node('db3'), node('db4', { priority: 9 })];
    expect(names(writerCandidates(nodes, up('db1', 'db2', 'db3')))).toEqual(['db3']);
  });

  it('gives a node without a priority the default 1: below 2, above 0', () => {
    const nodes = [node('a', { priority: 0 }), node('b'), node('c', { priority: 2 })];
    expect(names(writerCandidates(nodes, up('a', 'b', 'c')))).toEqual(['c', 'b']);
  });
});

describe('decideWriter', () => {
  const three = [node('db1'), node('db2'), node('db3')];

  it('keeps the record\'s writer while it is registered and UP, whatever sorts or ranks first', () => {
    const nodes = [...three, node('db0', { priority: 9 })];
    expect(decideWriter(record('uuid-db3'), nodes, up('db0', 'db1', 'db2', 'db3'))).toEqual({ kind: 'keep', writer: nodes[2] });
  });

  it('is sticky: an old writer that is UP again does not take writes back', () => {
    // db1 was the writer, failed, db2 took over at epoch 9; db1 recovered (UP again, first by name).
    const decision = decideWriter(record('uuid-db2', 9n), three, up('db1', 'db2', 'db3'));
    expect(decision).toMatchObject({ kind: 'keep', writer: { name: 'db2' } });
  });

  it('proposes the best other candidate, against the epoch seen, when the writer is DOWN here', () => {
    const decision = decideWriter(record('uuid-db1', 12n), three, up('db2', 'db3'));
    expect(decision).toEqual({ kind: 'propose', to: three[1], from: 'uuid-db1', epoch: 12n, reason: 'writer db1 is DOWN in this HAProxy' });
  });

  it('proposes when the writer is no longer registered', () => {
    const decision = decideWriter(record('uuid-gone', 12n), three, up('db1', 'db2', 'db3'));
    expect(decision).toMatchObject({ kind: 'propose', to: { name: 'db1' }, from: 'uuid-gone', epoch: 12n, reason: 'writer uuid-gone is not registered' });
  });

  it('without a record proposes a create (epoch 0)', () => {
    expect(decideWriter({ kind: 'none' }, three, up('db3', 'db2'))).toMatchObject({ kind: 'propose', to: { name: 'db2' }, from: null, epoch: 0n, reason: 'no writer record' });
  });

  it('without a record keeps the writer this HAProxy already writes to, if it may be one (an upgrade)', () => {
    expect(decideWriter({ kind: 'none' }, three, up('db1', 'db2', 'db3'), 'db3')).toMatchObject({ kind: 'propose', to: { name: 'db3' }, epoch: 0n, reason: "no writer record; db3 already takes this HAProxy's writes" });
    const withZero = [node('db1'), node('db2', { priority: 0 })];
    expect(decideWriter({ kind: 'none' }, withZero, up('db1', 'db2'), 'db2')).toMatchObject({ kind: 'propose', to: { name: 'db1' }, reason: 'no writer record' });
    // With a record, what HAProxy does now never matters: only the record's writer and its health.
    expect(decideWriter(record('uuid-db1', 3n), three, up('db2', 'db3'), 'db3')).toMatchObject({ kind: 'propose', to: { name: 'db2' } });
  });

  it('replaces a record that does not decode, against its epoch', () => {
    expect(decideWriter({ kind: 'malformed', epoch: 4n, reason: 'x' }, three, up('db1'))).toMatchObject({ kind: 'propose', to: { name: 'db1' }, epoch: 4n });
  });

  it('never proposes a priority-0 node, even when it is the only one UP: the writer stays, writes wait', () => {
    const nodes = [node('db1'), node('db2', { priority: 0 })];
    expect(decideWriter(record('uuid-db1'), nodes, up('db2'))).toEqual({ kind: 'stay', writer: nodes[0], why: 'no other node is UP with a priority above 0' });
  });

  it('renders the record as it is when HAProxy health is unknown, and never proposes then', () => {
    expect(decideWriter(record('uuid-db1'), three, null)).toMatchObject({ kind: 'keep', writer: { name: 'db1' } });
    expect(decideWriter({ kind: 'none' }, three, null)).toEqual({ kind: 'stay', writer: null, why: 'HAProxy health unknown' });
  });

  it('finds the writer by server name too (an operator may write the name)', () => {
    expect(decideWriter(record('db2'), three, up('db2'))).toMatchObject({ kind: 'keep', writer: { name: 'db2' } });
  });

  it('moves writes off a draining writer before it leaves, and never onto a draining node', () => {
    const leaving = [node('db1', { draining: true }), node('db2', { draining: true }), node('db3')];
    expect(decideWriter(record('uuid-db1', 12n), leaving, up('db1', 'db2', 'db3'))).toEqual({
      kind: 'propose',
      to: leaving[2],
      from: 'uuid-db1',
      epoch: 12n,
      reason: 'writer db1 is draining',
    });
    // Nowhere else to go: the draining writer stays (its sessions finish), writes wait.
    expect(decideWriter(record('uuid-db1'), leaving.slice(0, 2), up('db1', 'db2'))).toMatchObject({ kind: 'stay', writer: { name: 'db1' } });
  });
});

describe('planSwitchover', () => {
  const three = [node('db1'), node('db2'), node('db3', { priority: 0 })];
  const all = up('db1', 'db2', 'db3');

  it('moves the record to a registered, UP node, against the epoch read', () => {
    expect(planSwitchover(record('uuid-db1', 30n), three, all, 'db2')).toEqual({ kind: 'swap', to: three[1], from: 'uuid-db1', epoch: 30n });
    expect(planSwitchover(record('uuid-db1', 30n), three, all, 'uuid-db2')).toMatchObject({ kind: 'swap', to: { name: 'db2' } });
    expect(planSwitchover({ kind: 'none' }, three, all, 'db2')).toMatchObject({ kind: 'swap', epoch: 0n, from: null });
  });

  it('says so when the target already is the writer', () => {
    expect(planSwitchover(record('uuid-db2'), three, all, 'db2')).toEqual({ kind: 'already', writer: three[1] });
  });

  it.each([
    ['an unknown node', 'db9', all, '"db9" is not a registered node (registered: db1 (uuid-db1), db2 (uuid-db2), db3 (uuid-db3))'],
    ['a priority-0 node', 'db3', all, 'db3 has priority 0: it is never the writer'],
  ])('refuses %s with the reason, for good', (_what, target, seen, reason) => {
    expect(planSwitchover(record('uuid-db1'), three, seen, target)).toEqual({ kind: 'refuse', reason });
  });

  it.each([
    ['a node DOWN here', 'db2', up('db1'), 'db2 is not UP in this HAProxy (its health check fails, or it is in maintenance)'],
    ['unknown health', 'db2', null, 'cannot tell whether db2 is UP: this HAProxy\'s runtime could not be read'],
  ])('refuses %s with the reason, as something that may pass', (_what, target, seen, reason) => {
    expect(planSwitchover(record('uuid-db1'), three, seen, target)).toEqual({ kind: 'refuse', reason, passing: true });
  });

  it('refuses a draining node: it is leaving', () => {
    expect(planSwitchover(record('uuid-db1'), [node('db1'), node('db2', { draining: true })], all, 'db2')).toEqual({ kind: 'refuse', reason: 'db2 is draining: it is leaving' });
  });
});

describe('switchoverReadiness', () => {
  it('goes once the target has applied what it received, and waits while it has not', () => {
    expect(switchoverReadiness('db2', { recvQueue: 0 })).toEqual({ kind: 'go' });
    expect(switchoverReadiness('db2', { recvQueue: 12 })).toEqual({ kind: 'wait', why: 'db2 has 12 write sets received and not applied yet (wsrep_local_recv_queue)' });
    expect(switchoverReadiness('db2', null)).toMatchObject({ kind: 'wait', why: "db2's clustercheck does not answer, so its wsrep_local_recv_queue is unknown" });
  });

  it('goes with a note when there is no queue to read', () => {
    expect(switchoverReadiness('db2', {})).toMatchObject({ kind: 'go', note: expect.stringContaining('gives no wsrep_local_recv_queue') });
    expect(switchoverReadiness('db2', 'no-check')).toMatchObject({ kind: 'go', note: expect.stringContaining('no HTTP clustercheck') });
  });
});

describe('writerHoldProblem', () => {
  it('warns of a hold that ends before the handover does, not of one above it or one turned off', () => {
    expect(writerHoldProblem(1000, 1000)).toContain('writer_hold (1000 ms) is not above --writer-handover (1000 ms)');
    expect(writerHoldProblem(500, 1000)).not.toBeNull();
    expect(writerHoldProblem(2000, 1000)).toBeNull();
    expect(writerHoldProblem(null, 1000)).toBeNull();
  });
});
