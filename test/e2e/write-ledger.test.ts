import { describe, expect, it } from 'vitest';
import { concurrentWriters, failuresByError, writerSegments, type WriteRecord } from './write-ledger.js';

const w = (proxy: number, startedAt: number, endedAt: number, node: string | null, error: string | null = null): WriteRecord => ({
  proxy,
  startedAt,
  endedAt,
  node,
  error,
});

describe('write ledger', () => {
  it('one segment per writer; a failover is two segments, a writer taking writes back is a third', () => {
    const failover = [w(0, 0, 5, 'n1'), w(1, 2, 8, 'n1'), w(2, 20, 25, 'n2'), w(0, 21, 30, 'n2')];
    expect(writerSegments(failover).map((s) => [s.node, s.writes])).toEqual([['n1', 2], ['n2', 2]]);
    expect(writerSegments([...failover, w(1, 40, 45, 'n1')]).map((s) => s.node)).toEqual(['n1', 'n2', 'n1']);
  });

  it('counts overlapping commits on different nodes, never overlaps on one node or failed writes', () => {
    const clean = [w(0, 0, 10, 'n1'), w(1, 5, 12, 'n1'), w(2, 6, 9, null, 'ECONNRESET'), w(0, 12, 20, 'n2')];
    expect(concurrentWriters(clean).pairs).toBe(0);
    const split = [w(0, 0, 10, 'n1'), w(1, 5, 12, 'n2'), w(2, 6, 9, 'n1')];
    const found = concurrentWriters(split);
    expect(found.pairs).toBe(2);
    expect(found.examples[0]).toMatch(/n1 via proxy 0 .* and n2 via proxy 1/);
  });

  it('counts from the INSERT, not from the connect: a client held in HAProxy before any node was chosen wrote nothing meanwhile', () => {
    // The n2 client connected at 5 but waited in HAProxy until 15 (no writer then); n1's last commit was at 10.
    const held = [w(0, 0, 10, 'n1'), { ...w(1, 5, 17, 'n2'), writeStartedAt: 15 }];
    expect(concurrentWriters(held).pairs).toBe(0);
    // Its INSERT went out while n1 was still committing: two writers.
    expect(concurrentWriters([w(0, 0, 10, 'n1'), { ...w(1, 5, 17, 'n2'), writeStartedAt: 9 }]).pairs).toBe(1);
  });

  it('groups failures by error', () => {
    expect(failuresByError([w(0, 0, 1, null, '1213'), w(0, 0, 1, null, '1213'), w(0, 0, 1, 'n1'), w(1, 0, 1, null, null)])).toEqual({
      1213: 2,
      unknown: 1,
    });
  });
});
