import { describe, expect, it } from 'vitest';
import { MAX_NAME_BODY, fnv1a32, serverNameFor } from './server-name.js';

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
