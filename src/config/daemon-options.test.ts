import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseDurationIn, parseReloadCmd, resolvePipelineOptions } from './daemon-options.js';

describe('resolvePipelineOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolvePipelineOptions({});
    expect(o.prefix).toBe('/components/galera');
    expect(o.configPath).toBe('/etc/haproxy/haproxy.cfg');
    expect(o.haproxyBin).toBe('haproxy');
    expect(o.minServers).toBe(1);
    expect(o.wait).toEqual({ minMs: 10, maxMs: 100 });
    expect(o.resyncMs).toBe(300_000);
  });

  it('normalises a trailing slash on the prefix', () => {
    expect(resolvePipelineOptions({ prefix: '/components/galera/' }).prefix).toBe('/components/galera');
  });

  it('rejects bad values with one line naming the flag', () => {
    expect(() => resolvePipelineOptions({ prefix: 'components' })).toThrow('--prefix must start with "/"');
    expect(() => resolvePipelineOptions({ minServers: '-1' })).toThrow(/--min-servers "-1" is not a whole number/);
    expect(() => resolvePipelineOptions({ minServers: '1.5' })).toThrow(/--min-servers/);
    expect(() => resolvePipelineOptions({ wait: 'soon' })).toThrow(/--wait/);
    expect(() => resolvePipelineOptions({ logLevel: 'loud' })).toThrow(/--log-level "loud"/);
    expect(() => resolvePipelineOptions({ config: '/etc/haproxy/x\n.cfg' })).toThrow(/--config must not contain control characters/);
    expect(() => resolvePipelineOptions({ drainTimeout: '10 years' })).toThrow(/--drain-timeout/);
  });
});

describe('parseReloadCmd', () => {
  it('splits words or reads a JSON array, never through a shell', () => {
    expect(parseReloadCmd('systemctl reload haproxy')).toEqual(['systemctl', 'reload', 'haproxy']);
    expect(parseReloadCmd('["/bin/kill", "-USR2", "1"]')).toEqual(['/bin/kill', '-USR2', '1']);
    expect(parseReloadCmd('echo $(rm -rf /)')).toEqual(['echo', '$(rm', '-rf', '/)']);
  });

  it('rejects an empty command and malformed JSON', () => {
    expect(() => parseReloadCmd('   ')).toThrow(/must name a program/);
    expect(() => parseReloadCmd('["a", ')).toThrow(/not a valid JSON array/);
    expect(() => parseReloadCmd('[1, 2]')).toThrow();
  });
});

describe('duration flags', () => {
  it('rejects a zero --check-timeout, and takes --resync 0 and --resolve-interval 0 as off', () => {
    expect(() => resolvePipelineOptions({ checkTimeout: '0' })).toThrow('--check-timeout 0 must be longer than 0');
    expect(() => resolvePipelineOptions({ checkTimeout: '0s' })).toThrow(ConfigError);
    expect(resolvePipelineOptions({ resync: '0' }).resyncMs).toBe(0);
    expect(resolvePipelineOptions({ resolveInterval: '0' }).resolveIntervalMs).toBe(0);
  });

  it('reads a plain number in the flag\'s old unit and a duration in its own', () => {
    expect(parseDurationIn('10', '--ttl', 's', { minMs: 1000, maxMs: 3_600_000 })).toBe(10_000);
    expect(parseDurationIn('10s', '--ttl', 's', { minMs: 1000, maxMs: 3_600_000 })).toBe(10_000);
    expect(parseDurationIn('2m', '--ttl', 's', { minMs: 1000, maxMs: 3_600_000 })).toBe(120_000);
    expect(parseDurationIn('500', '--health-interval', 'ms', { minMs: 1, maxMs: 60_000 })).toBe(500);
    expect(parseDurationIn('2s', '--health-interval', 'ms', { minMs: 1, maxMs: 60_000 })).toBe(2000);
    expect(() => parseDurationIn('0', '--ttl', 's', { minMs: 1000, maxMs: 3_600_000 })).toThrow('--ttl 0 is out of range 1s-3600s');
    expect(() => parseDurationIn('ten', '--ttl', 's', { minMs: 1000, maxMs: 3_600_000 })).toThrow(/--ttl "ten" is not a duration/);
  });
});
