import { describe, expect, it } from 'vitest';
import { normalizePrefix, prefixProblem, stripTrailingSlashes } from './prefix.js';

describe('etcd prefix forms', () => {
  it('ends the key form with exactly one slash', () => {
    expect(normalizePrefix('/x//')).toBe('/x/');
    expect(normalizePrefix('/x')).toBe('/x/');
    expect(normalizePrefix('/')).toBe('/');
  });

  it('treats trailing slashes as the same prefix', () => {
    expect(stripTrailingSlashes('/a/b///')).toBe('/a/b');
    expect(stripTrailingSlashes('/a/b')).toBe('/a/b');
    expect(stripTrailingSlashes('/')).toBe('');
  });

  it('one rule for every source of a prefix: absolute and not the root', () => {
    expect(prefixProblem('/components/galera/')).toBeNull();
    expect(prefixProblem('components')).toBe('must start with "/"');
    expect(prefixProblem('//')).toMatch(/whole keyspace/);
  });
});
