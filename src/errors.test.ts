import { describe, expect, it } from 'vitest';
import { ConfigError, SourceError, describeError } from './errors.js';

describe('describeError', () => {
  it('appends a cause the message does not already quote', () => {
    const cause = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' });
    expect(describeError(new ConfigError('cannot read template /x', { cause }))).toBe("cannot read template /x: ENOENT: no such file or directory, open '/x'");
  });

  it('does not repeat a cause the message already contains', () => {
    const cause = new Error('14 UNAVAILABLE: No connection established');
    const err = new SourceError('ETCD_UNAVAILABLE', `reading /p/ from etcd: ${cause.message}`, { cause });
    expect(describeError(err)).toBe('reading /p/ from etcd: 14 UNAVAILABLE: No connection established');
  });

  it('walks the whole chain once, skipping repeats, on one line', () => {
    const root = new Error('connect ECONNREFUSED\n  127.0.0.1:1');
    const middle = new Error('connect ECONNREFUSED 127.0.0.1:1', { cause: root });
    const top = new Error('etcd unreachable', { cause: middle });
    expect(describeError(top)).toBe('etcd unreachable: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('stops at a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(describeError(a)).toBe('a: b');
  });
});
