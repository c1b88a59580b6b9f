import { describe, expect, it } from 'vitest';
import { decodeCluster } from '../model/decode-cluster.js';
import type { StoredKeyValue } from '../model/types.js';
import { drainMarkWrites, isRecordKey, knownNodes, locateNode } from './drain-mark.js';

const P = '/components/galera';
const kv = (key: string, value: string, lease = '7'): StoredKeyValue => ({ key, value, lease, modRevision: 42n });

const KVS: StoredKeyValue[] = [
  kv(`${P}/1b7e-uuid/ip`, '10.0.0.1'),
  kv(`${P}/1b7e-uuid/host`, 'db1'),
  kv(`${P}/flat1`, '10.0.0.2:3306', '9'),
  kv(`${P}/json1`, '{"ip":"10.0.0.3","draining":true}', '11'),
  kv(`${P}/static/ip`, '10.0.0.4', '0'),
];
const state = decodeCluster(P, KVS);

describe('locateNode', () => {
  it('finds a node by id, by server name and by host name', () => {
    expect(locateNode(P, KVS, state, '1b7e-uuid')?.keys).toHaveLength(2);
    expect(locateNode(P, KVS, state, 'db1')?.id).toBe('1b7e-uuid');
    expect(locateNode(P, KVS, state, 'flat1')?.keys.map((k) => k.key)).toEqual([`${P}/flat1`]);
    expect(locateNode(P, KVS, state, 'nope')).toBeNull();
  });

  it('never takes the writer record for a node', () => {
    const withRecord = [...KVS, kv(`${P}/_writer`, '{"node":"db1"}')];
    expect(isRecordKey(P, `${P}/_writer`)).toBe(true);
    expect(locateNode(P, withRecord, state, '_writer')).toBeNull();
    expect(knownNodes(P, withRecord, state)).toEqual(['1b7e-uuid (db1)', 'flat1', 'json1', 'static']);
  });
});

describe('drainMarkWrites', () => {
  const node = (wanted: string, kvs = KVS) => {
    const found = locateNode(P, kvs, decodeCluster(P, kvs), wanted);
    if (found === null) throw new Error(`no ${wanted}`);
    return found;
  };

  it('puts <id>/draining = true under the lease of the node\'s own keys, for every layout', () => {
    expect(drainMarkWrites(P, node('1b7e-uuid'), true)).toEqual([{ kind: 'put', key: `${P}/1b7e-uuid/draining`, value: 'true', lease: '7' }]);
    expect(drainMarkWrites(P, node('flat1'), true)).toEqual([{ kind: 'put', key: `${P}/flat1/draining`, value: 'true', lease: '9' }]);
    // Keys written by hand, without a lease: the mark has none either (undrain removes it).
    expect(drainMarkWrites(P, node('static'), true)).toEqual([{ kind: 'put', key: `${P}/static/draining`, value: 'true', lease: '0' }]);
  });

  it('writes nothing for a node already marked, and the decoder reads the mark as draining', () => {
    const marked = [...KVS, kv(`${P}/flat1/draining`, 'true', '9')];
    expect(drainMarkWrites(P, node('flat1', marked), true)).toEqual([]);
    expect(decodeCluster(P, marked).nodes.find((n) => n.id === 'flat1')?.draining).toBe(true);
  });

  it('undrain deletes the mark and clears a JSON field, comparing its mod_revision', () => {
    const marked = [...KVS, kv(`${P}/json1/draining`, 'true', '11')];
    expect(drainMarkWrites(P, node('json1', marked), false)).toEqual([
      { kind: 'delete', key: `${P}/json1/draining` },
      { kind: 'put', key: `${P}/json1`, value: '{"ip":"10.0.0.3"}', lease: '11', ifModRevision: '42' },
    ]);
    expect(drainMarkWrites(P, node('1b7e-uuid'), false)).toEqual([]);
  });

  it('undrain reaches a node whose draining value was rejected', () => {
    const bad = [...KVS, kv(`${P}/flat1/draining`, 'yes', '9')];
    expect(decodeCluster(P, bad).nodes.some((n) => n.id === 'flat1')).toBe(false);
    expect(drainMarkWrites(P, node('flat1', bad), false)).toEqual([{ kind: 'delete', key: `${P}/flat1/draining` }]);
  });
});
