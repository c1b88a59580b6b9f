import { describe, expect, it } from 'vitest';
import { MAX_NAME_BODY, fnv1a32, serverNameCandidates, serverNameFor } from './server-name.js';
import { decodeCluster } from './decode-cluster.js';
import type { KeyValue } from './types.js';

describe('serverNameFor', () => {
  it('keeps a valid id unchanged', () => {
    expect(serverNameFor('db1')).toBe('db1');
    expect(serverNameFor('galera-1.dc_a:x')).toBe('galera-1.dc_a:x');
  });

  it('sanitises and appends a hash of the raw id when anything changed', () => {
    const name = serverNameFor('db 1');
    expect(name).toBe(`db_1-${fnv1a32('db 1')}`);
    expect(serverNameFor('db/1')).not.toBe(name);
    expect(serverNameFor('db\n1')).toMatch(/^db_1-[0-9a-f]{8}$/);
  });

  it('bounds the length and keeps long ids distinct', () => {
    const a = serverNameFor(`${'x'.repeat(40)}a`);
    const b = serverNameFor(`${'x'.repeat(40)}b`);
    expect(a).not.toBe(b);
    expect(a.length).toBe(MAX_NAME_BODY + 9);
    expect(serverNameFor('x'.repeat(MAX_NAME_BODY))).toBe('x'.repeat(MAX_NAME_BODY));
  });

  it('is a stable pure function of the id', () => {
    expect(serverNameFor('dé1')).toBe(serverNameFor('dé1'));
    // FNV-1a 32 reference values: the empty string is the offset basis; "a" is 0xe40c292c.
    expect(fnv1a32('')).toBe('811c9dc5');
    expect(fnv1a32('a')).toBe('e40c292c');
  });

  it('never produces characters HAProxy refuses', () => {
    for (const id of ['', ' ', '#', 'ü', '😀', 'a b#c\td', '\u0000']) {
      expect(serverNameFor(id)).toMatch(/^[A-Za-z0-9_.:-]+$/);
    }
  });
});

describe('server names by host (the default)', () => {
  const P = '/components/galera';
  const uuid = '3397ba6c-54f3-4c4e-9d0a-0b5e7cca75f4';
  const seed = (id: string, ip: string, host: string | undefined, rev: bigint): KeyValue[] => [
    { key: `${P}/${id}/ip`, value: ip, createRevision: rev },
    { key: `${P}/${id}/port`, value: ' 3306 ', createRevision: rev + 1n },
    ...(host === undefined ? [] : [{ key: `${P}/${id}/host`, value: host, createRevision: rev + 2n }]),
  ];

  it('names a seed node by its host key, and a UUID id without host by its first group', () => {
    const state = decodeCluster(P, [...seed(uuid, '10.0.0.1', 'db1', 10n), ...seed('9f0c1d2e-1111-4222-8333-944445555666', '10.0.0.2', undefined, 20n)]);
    expect(state.nodes.map((n) => n.name)).toEqual(['9f0c1d2e', 'db1']);
  });

  it('keeps the previous names with server_names=id', () => {
    const state = decodeCluster(P, seed(uuid, '10.0.0.1', 'db1', 10n), { serverNames: 'id' });
    expect(state.nodes.map((n) => n.name)).toEqual([serverNameFor(uuid)]);
    expect(serverNameFor(uuid)).toHaveLength(41);
  });

  it('does not move when the node changes address, nor when an unrelated node comes or goes', () => {
    const before = decodeCluster(P, seed(uuid, '10.0.0.1', 'db1', 10n));
    const moved = decodeCluster(P, [...seed(uuid, '10.0.0.9', 'db1', 10n), ...seed('db2', '10.0.0.2', 'db2', 30n)]);
    expect(moved.nodes.find((n) => n.id === uuid)?.name).toBe(before.nodes[0]?.name);
  });

  it('gives a host shared by two nodes to the one registered first; the later one falls back to its id', () => {
    const a = seed('a-node', '10.0.0.1', 'shared', 50n);
    const b = seed(uuid, '10.0.0.1', 'shared', 10n).map((kv) => (kv.key.endsWith('/port') ? { ...kv, value: '3307' } : kv));
    const state = decodeCluster(P, [...a, ...b]);
    expect(state.nodes.map((n) => [n.id, n.name])).toEqual([
      ['a-node', 'a-node'],
      [uuid, 'shared'],
    ]);
  });

  it('keeps a node whose plain id another node registered as its host, under a hashed name', () => {
    const state = decodeCluster(P, [...seed('abc', '10.0.0.1', 'db2', 10n), ...seed('db2', '10.0.0.2', undefined, 20n)]);
    expect(state.rejected).toEqual([]);
    expect(state.nodes.map((n) => [n.id, n.name])).toEqual([
      ['abc', 'db2'],
      ['db2', `db2-${fnv1a32('db2')}`],
    ]);
  });

  it('lists host, short id and full id as candidates, without repeats', () => {
    expect(serverNameCandidates(uuid, 'db1', 'host')).toEqual(['db1', '3397ba6c', serverNameFor(uuid)]);
    expect(serverNameCandidates('db1', undefined, 'host')).toEqual(['db1', `db1-${fnv1a32('db1')}`]);
    expect(serverNameCandidates('db1', 'db1', 'host')).toEqual(['db1', `db1-${fnv1a32('db1')}`]);
    expect(serverNameCandidates(uuid, 'db1', 'id')).toEqual([serverNameFor(uuid)]);
  });
});
