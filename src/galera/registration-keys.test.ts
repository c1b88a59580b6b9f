import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { buildRegistrationKeys } from './registration-keys.js';
import { decodeCluster } from '../model/decode-cluster.js';
import { validateRegistration } from './validate-registration.js';

describe('buildRegistrationKeys', () => {
  it('writes ip, port and host under <prefix>/<id> in the seed layout', () => {
    expect(
      buildRegistrationKeys('/components/galera/', 'seed', { id: 'db1', ip: '10.0.0.1', port: 3306, host: 'db1.lan' }),
    ).toEqual([
      { key: '/components/galera/db1/ip', value: '10.0.0.1' },
      { key: '/components/galera/db1/port', value: '3306' },
      { key: '/components/galera/db1/host', value: 'db1.lan' },
    ]);
  });

  it('omits host when none is given', () => {
    const keys = buildRegistrationKeys('/p', 'seed', { id: 'a', ip: '::1', port: 3307 }).map((kv) => kv.key);
    expect(keys).toEqual(['/p/a/ip', '/p/a/port']);
  });

  it('writes one JSON value in the flat layout', () => {
    const [kv, ...rest] = buildRegistrationKeys('/flat', 'flat', { id: 'n2', ip: '10.0.0.2', port: 3310 });
    expect(rest).toHaveLength(0);
    expect(kv?.key).toBe('/flat/n2');
    expect(JSON.parse(kv?.value ?? '')).toEqual({ ip: '10.0.0.2', port: 3310 });
  });

  it('marks a leaving node draining in the form the watcher decodes', () => {
    const seed = buildRegistrationKeys('/p', 'seed', { id: 'a', ip: '10.0.0.1', port: 3306, draining: true });
    const flat = buildRegistrationKeys('/p', 'flat', { id: 'a', ip: '10.0.0.1', port: 3306, draining: true });
    expect(seed.at(-1)).toEqual({ key: '/p/a/draining', value: 'true' });
    expect(JSON.parse(flat[0]?.value ?? '')).toEqual({ ip: '10.0.0.1', port: 3306, draining: true });
    for (const kvs of [seed, flat]) expect(decodeCluster('/p', kvs).nodes[0]?.draining).toBe(true);
    expect(decodeCluster('/p', buildRegistrationKeys('/p', 'seed', { id: 'a', ip: '10.0.0.1', port: 3306 })).nodes[0]?.draining).toBeUndefined();
  });
});

describe('validateRegistration', () => {
  it('accepts IPv4, bracketed IPv6 and host names, canonicalising IPv6', () => {
    expect(validateRegistration({ id: 'db-1', ip: '127.0.0.11', port: 3306 }).ip).toBe('127.0.0.11');
    expect(validateRegistration({ id: 'db-1', ip: '[2001:DB8:0::1]', port: 3306 }).ip).toBe('2001:db8::1');
    expect(validateRegistration({ id: 'db-1', ip: 'db1.example.org', port: 1 }).ip).toBe('db1.example.org');
  });

  it.each([
    [{ id: 'a/b', ip: '10.0.0.1', port: 3306 }, /--id/],
    [{ id: '', ip: '10.0.0.1', port: 3306 }, /--id/],
    [{ id: 'a', ip: '10.0.0.256', port: 3306 }, /--ip/],
    [{ id: 'a', ip: '10.0.0.1', port: 0 }, /--port/],
    [{ id: 'a', ip: '10.0.0.1', port: 70000 }, /--port/],
  ])('rejects %o', (input, message) => {
    expect(() => validateRegistration(input)).toThrow(ConfigError);
    expect(() => validateRegistration(input)).toThrow(message);
  });
});
