import { describe, expect, it } from 'vitest';
import { chooseWriter, orderWriterFirst } from './choose-writer.js';
import type { GaleraNode } from './types.js';

const node = (name: string, backup = false): GaleraNode => ({
  id: name,
  name,
  address: '10.0.0.1',
  port: 3306,
  weight: 1,
  backup,
  keys: [`/p/${name}/ip`],
});

describe('chooseWriter', () => {
  it('picks the first non-backup node by name when there is no writer yet', () => {
    expect(chooseWriter([node('db3'), node('db1', true), node('db2')], null)).toBe('db2');
  });

  it('keeps the writer when other nodes join, even one that sorts first', () => {
    expect(chooseWriter([node('db0'), node('db2'), node('db3')], 'db2')).toBe('db2');
  });

  it('keeps the writer when other nodes leave', () => {
    expect(chooseWriter([node('db2')], 'db2')).toBe('db2');
  });

  it('moves only when the writer is gone, to exactly one other node', () => {
    expect(chooseWriter([node('db1'), node('db3')], 'db2')).toBe('db1');
  });

  it('falls back to a backup node when nothing else is left, and to null when empty', () => {
    expect(chooseWriter([node('db9', true)], 'db1')).toBe('db9');
    expect(chooseWriter([], 'db1')).toBeNull();
  });
});

describe('orderWriterFirst', () => {
  it('lists the writer first, then the others by name', () => {
    const order = orderWriterFirst([node('db1'), node('db3'), node('db2')], 'db3').map((n) => n.name);
    expect(order).toEqual(['db3', 'db1', 'db2']);
  });

  it('keeps name order when the writer is unknown', () => {
    expect(orderWriterFirst([node('b'), node('a')], null).map((n) => n.name)).toEqual(['a', 'b']);
  });
});
