import { describe, expect, it } from 'vitest';
import { isEmptyDiff, KeyMirror, listUnexplained, type MirrorEvent } from './key-mirror.js';

const put = (key: string, value: string, revision: number): MirrorEvent => ({ type: 'put', key, value, revision: BigInt(revision) });
const del = (key: string, revision: number): MirrorEvent => ({ type: 'delete', key, value: '', revision: BigInt(revision) });

describe('KeyMirror', () => {
  it('applies puts and deletes in order and tracks the revision', () => {
    const mirror = new KeyMirror();
    mirror.reset([{ key: '/p/a', value: '1' }], 5n);
    expect(mirror.apply([put('/p/b', '2', 6), del('/p/a', 7)])).toBe(true);
    expect(mirror.kvs()).toEqual([{ key: '/p/b', value: '2', modRevision: 6n }]);
    expect(mirror.revision).toBe(7n);
  });

  it('drops events older than the applied revision (a resume that starts too early)', () => {
    const mirror = new KeyMirror();
    mirror.reset([], 10n);
    mirror.apply([put('/p/a', 'new', 12)]);
    expect(mirror.apply([put('/p/a', 'old', 11), del('/p/a', 9)])).toBe(false);
    expect(mirror.kvs()).toEqual([{ key: '/p/a', value: 'new', modRevision: 12n }]);
    expect(mirror.eventsApplied).toBe(1);
  });

  it('applies every event of a transaction that shares one revision', () => {
    const mirror = new KeyMirror();
    mirror.reset([], 3n);
    mirror.apply([put('/p/a', '1', 4)]);
    mirror.apply([put('/p/b', '2', 4)]);
    expect(mirror.kvs().map((kv) => kv.key)).toEqual(['/p/a', '/p/b']);
  });

  it('keeps each key\'s create revision from the snapshot and from watch puts, for the model to rank registrations', () => {
    const mirror = new KeyMirror();
    mirror.reset([{ key: '/p/a', value: '1', createRevision: 2n }], 5n);
    // A put over an existing key keeps its create revision, as etcd reports it.
    expect(mirror.apply([{ ...put('/p/a', '2', 6), createRevision: 2n }, { ...put('/p/b', '3', 7), createRevision: 7n }])).toBe(true);
    expect(mirror.kvs()).toEqual([
      { key: '/p/a', value: '2', createRevision: 2n, modRevision: 6n },
      { key: '/p/b', value: '3', createRevision: 7n, modRevision: 7n },
    ]);
  });

  it('reports a put of the same value as no change but still counts it as seen, and keeps its new mod revision', () => {
    const mirror = new KeyMirror();
    mirror.reset([{ key: '/p/a', value: '1', modRevision: 1n }], 1n);
    expect(mirror.kvs()).toEqual([{ key: '/p/a', value: '1', modRevision: 1n }]);
    expect(mirror.apply([put('/p/a', '1', 2)])).toBe(false);
    expect(mirror.eventsApplied).toBe(1);
    // The single-writer record's epoch is its mod revision: a compare-and-swap needs the one etcd holds.
    expect(mirror.kvs()).toEqual([{ key: '/p/a', value: '1', modRevision: 2n }]);
  });

  it('a reset reports deletes, additions and changes against the snapshot', () => {
    const mirror = new KeyMirror();
    mirror.reset(
      [
        { key: '/p/a', value: '1' },
        { key: '/p/b', value: '2' },
      ],
      1n,
    );
    const diff = mirror.reset(
      [
        { key: '/p/b', value: '3' },
        { key: '/p/c', value: '4' },
      ],
      9n,
    );
    expect(diff).toEqual({ added: ['/p/c'], removed: ['/p/a'], changed: ['/p/b'] });
    expect(isEmptyDiff(diff)).toBe(false);
    expect(isEmptyDiff(mirror.diff(mirror.kvs()))).toBe(true);
    expect(mirror.revision).toBe(9n);
  });

  it('progress notifications only move the revision forward', () => {
    const mirror = new KeyMirror();
    mirror.reset([], 5n);
    mirror.advance(8n);
    mirror.advance(6n);
    expect(mirror.revision).toBe(8n);
  });

  it('sorts keys by code unit order', () => {
    const mirror = new KeyMirror();
    mirror.reset([], 1n);
    mirror.apply([put('/p/b', 'x', 2), put('/p/B', 'x', 3), put('/p/a', 'x', 4)]);
    expect(mirror.kvs().map((kv) => kv.key)).toEqual(['/p/B', '/p/a', '/p/b']);
  });
});

describe('listUnexplained', () => {
  const mods = new Map([
    ['/p/new', 12n],
    ['/p/old', 8n],
  ]);

  it('writes newer than the mirror explain added, changed and removed keys', () => {
    expect(listUnexplained({ added: ['/p/new'], changed: [], removed: ['/p/gone'] }, mods, 10n, 12n)).toEqual([]);
  });

  it('a key written at or below the mirror revision, or gone with nothing newer, was missed', () => {
    expect(listUnexplained({ added: ['/p/old'], changed: [], removed: [] }, mods, 10n, 12n)).toEqual(['/p/old']);
    expect(listUnexplained({ added: [], changed: [], removed: ['/p/gone'] }, mods, 10n, 10n)).toEqual(['/p/gone']);
  });
});
