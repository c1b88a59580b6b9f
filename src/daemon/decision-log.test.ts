import { describe, expect, it } from 'vitest';
import { decodeCluster } from '../model/decode-cluster.js';
import { createLogger } from '../observe/logger.js';
import { logDecisions, summarizePass } from './decision-log.js';

const PREFIX = '/components/galera';

function cluster(count: number, from = 0) {
  const kvs = Array.from({ length: count }, (_, i) => ({ key: `${PREFIX}/n${from + i}`, value: `127.0.0.${151 + ((from + i) % 9)}:${3306 + from + i}` }));
  return decodeCluster(PREFIX, kvs);
}

function capture(): { lines: { level: string; msg: string }[]; log: ReturnType<typeof createLogger> } {
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger({ level: 'info', stream: { write: (s: string) => void lines.push(JSON.parse(s) as { level: string; msg: string }) } });
  return { lines, log };
}

describe('summarizePass', () => {
  it('gives the first pass of a start a node count, not a list', () => {
    expect(summarizePass(null, cluster(5), 'noop')).toEqual({ msg: 'HAProxy already up to date', fields: { nodes: 5 } });
    expect(summarizePass(null, cluster(5), 'reload')).toEqual({ msg: 'HAProxy updated by reload', fields: { nodes: 5 } });
  });

  it('names the servers a runtime pass added, removed and changed', () => {
    const before = cluster(3);
    const after = decodeCluster(PREFIX, [
      { key: `${PREFIX}/n0`, value: '127.0.0.151:3306' },
      { key: `${PREFIX}/n1`, value: JSON.stringify({ ip: '127.0.0.152', port: 3307, weight: 7 }) },
      { key: `${PREFIX}/n9`, value: '127.0.0.159:3306' },
    ]);
    expect(summarizePass(before, after, 'runtime')).toEqual({ msg: 'HAProxy updated by runtime', fields: { added: ['n9'], removed: ['n2'], changed: ['n1'] } });
  });

  it('caps a mass change at 20 names and counts the rest', () => {
    const summary = summarizePass(cluster(1), cluster(301), 'runtime');
    expect(summary?.fields['added']).toHaveLength(20);
    expect(summary?.fields['addedMore']).toBe(280);
  });

  it('says nothing at info for a no-op pass after the first, nor for a guarded one', () => {
    expect(summarizePass(cluster(3), cluster(3), 'noop')).toBeNull();
    expect(summarizePass(cluster(3), cluster(0), 'guarded')).toBeNull();
  });
});

describe('logDecisions', () => {
  it('keeps per-node lines off info: a start, a 300-node change and a vanished prefix log none', () => {
    const { lines, log } = capture();
    logDecisions(log, null, cluster(12));
    logDecisions(log, cluster(12), cluster(300));
    logDecisions(log, cluster(12), cluster(0));
    expect(lines).toEqual([]);
  });

  it('warns once about a newly rejected value, not at every pass', () => {
    const { lines, log } = capture();
    const bad = decodeCluster(PREFIX, [{ key: `${PREFIX}/evil`, value: '127.0.0.151:3306\n  server x 127.0.0.152:3306' }]);
    logDecisions(log, null, bad);
    logDecisions(log, bad, bad);
    expect(lines.map((l) => [l.level, l.msg.startsWith('node rejected')])).toEqual([['warn', true]]);
  });
});

describe('draining in the decision log', () => {
  const drained = (ids: readonly string[]) =>
    decodeCluster(PREFIX, [...cluster(3).nodes.flatMap((n) => [
      { key: `${PREFIX}/${n.id}`, value: `${n.address}:${n.port}` },
      ...(ids.includes(n.id) ? [{ key: `${PREFIX}/${n.id}/draining`, value: 'true' }] : []),
    ])]);

  it('names the servers a pass put in and out of drain, and the first pass lists those draining', () => {
    expect(summarizePass(cluster(3), drained(['n1']), 'runtime')).toEqual({ msg: 'HAProxy updated by runtime', fields: { changed: ['n1'], draining: ['n1'] } });
    expect(summarizePass(drained(['n1']), cluster(3), 'runtime')?.fields).toEqual({ changed: ['n1'], undrained: ['n1'] });
    expect(summarizePass(null, drained(['n0', 'n2']), 'noop')?.fields).toEqual({ nodes: 3, draining: ['n0', 'n2'] });
  });

  it('logs one info line when a node starts draining and one when it is back, none while it stays', () => {
    const { lines, log } = capture();
    logDecisions(log, cluster(3), drained(['n1']));
    logDecisions(log, drained(['n1']), drained(['n1']));
    logDecisions(log, drained(['n1']), cluster(3));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'node draining: no new clients, open sessions finish'],
      ['info', 'node back in rotation (no longer draining)'],
    ]);
  });
});
