import { describe, expect, it } from 'vitest';
import { decodeWriterRecord, encodeWriterRecord, readWriterRecord } from './writer-record.js';

const KEY = '/components/galera/_writer';

describe('writer record', () => {
  it('round-trips and takes its epoch from the key\'s mod_revision', () => {
    const value = encodeWriterRecord({ node: 'b1f6', by: 'proxy-a', reason: 'no writer record', at: '2026-12-07T01:00:00.000Z' });
    expect(readWriterRecord(KEY, [{ key: '/components/galera/b1f6', value: '10.0.0.1' }, { key: KEY, value, modRevision: 42n }])).toEqual({
      kind: 'ok',
      record: { node: 'b1f6', by: 'proxy-a', reason: 'no writer record', at: '2026-12-07T01:00:00.000Z' },
      epoch: 42n,
    });
  });

  it('is "none" when the key is absent', () => {
    expect(readWriterRecord(KEY, [{ key: '/components/galera/a', value: '10.0.0.1' }])).toEqual({ kind: 'none' });
  });

  it.each([
    ['not JSON', 'db1', /is not JSON/],
    ['an array', '["db1"]', /is not a JSON object/],
    ['no node', '{"by":"p","reason":""}', /"node" must be a node id/],
    ['a node with a newline', '{"node":"db1\\n  server x 1.2.3.4:3306","by":"p","reason":""}', /"node" must be a node id/],
    ['a number for by', '{"node":"db1","by":7,"reason":""}', /"by" must be a proxy id/],
    ['a reason on two lines', '{"node":"db1","by":"p","reason":"a\\nb"}', /"reason" must be one line/],
    ['a bad time', '{"node":"db1","by":"p","reason":"","at":"yesterday"}', /"at" must be an ISO 8601 time/],
  ])('refuses %s with one line', (_what, value, reason) => {
    const decoded = decodeWriterRecord(value);
    expect(typeof decoded).toBe('string');
    expect(decoded).toMatch(reason);
    expect(String(decoded)).not.toContain('\n');
    expect(readWriterRecord(KEY, [{ key: KEY, value, modRevision: 9n }])).toMatchObject({ kind: 'malformed', epoch: 9n });
  });

  it('bounds what it quotes of a hostile value', () => {
    const reason = decodeWriterRecord(`x${'A'.repeat(3000)}`);
    expect(typeof reason === 'string' && reason.length < 200).toBe(true);
  });
});
