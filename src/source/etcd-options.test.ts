import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { describeEtcdOptions, resolveEtcdOptions, type ReadFile } from './etcd-options.js';

const files: Record<string, string> = {
  '/ca.pem': 'CA',
  '/cert.pem': 'CERT',
  '/key.pem': 'KEY',
  '/pw': 's3cret\n',
};
const readFile: ReadFile = (path) => {
  const content = files[path];
  if (content === undefined) throw new Error(`ENOENT: no such file '${path}'`);
  return Buffer.from(content);
};

describe('resolveEtcdOptions', () => {
  it('defaults to local etcd and the seed prefix', () => {
    const o = resolveEtcdOptions({}, {});
    expect(o.endpoints).toEqual(['http://127.0.0.1:2379']);
    expect(o.prefix).toBe('/components/galera');
    expect(o.requireLeader).toBe(true);
    expect(o.backoff.maxMs).toBeLessThanOrEqual(5000);
    expect(o.tls).toBeUndefined();
    expect(o.auth).toBeUndefined();
  });

  it('takes ETCDCTL_ENDPOINTS, and the flag over it; adds http:// to bare host:port', () => {
    expect(resolveEtcdOptions({}, { ETCDCTL_ENDPOINTS: 'a:1, b:2' }).endpoints).toEqual(['http://a:1', 'http://b:2']);
    expect(
      resolveEtcdOptions({ etcdEndpoints: 'http://127.0.0.1:1' }, { ETCDCTL_ENDPOINTS: 'a:1' }).endpoints,
    ).toEqual(['http://127.0.0.1:1']);
  });

  it.each([
    ['', /--etcd-endpoints is empty/],
    ['ftp://x:1', /must use http/],
    ['http://x', /needs host:port/],
    ['http://[::1', /not a URL/],
  ])('rejects endpoints %j with one clear line', (raw, message) => {
    expect(() => resolveEtcdOptions({ etcdEndpoints: raw }, {})).toThrow(message);
    expect(() => resolveEtcdOptions({ etcdEndpoints: raw }, {})).toThrow(ConfigError);
  });

  it('normalises the prefix and refuses the root', () => {
    expect(resolveEtcdOptions({ prefix: '/x/y/' }, {}).prefix).toBe('/x/y');
    expect(() => resolveEtcdOptions({ prefix: '/' }, {})).toThrow(/whole keyspace/);
    expect(() => resolveEtcdOptions({ prefix: 'x' }, {})).toThrow(/must start with/);
  });

  it('reads TLS files from flags or ETCDCTL_* variables', () => {
    const o = resolveEtcdOptions({}, { ETCDCTL_CACERT: '/ca.pem', ETCDCTL_CERT: '/cert.pem', ETCDCTL_KEY: '/key.pem' }, readFile);
    expect(o.tls?.ca.toString()).toBe('CA');
    expect(o.tls?.cert?.toString()).toBe('CERT');
    expect(o.tls?.key?.toString()).toBe('KEY');
    expect(resolveEtcdOptions({ etcdCacert: '/ca.pem' }, {}, readFile).tls?.cert).toBeUndefined();
  });

  it('explains TLS mistakes', () => {
    expect(() => resolveEtcdOptions({ etcdCert: '/cert.pem' }, {}, readFile)).toThrow(/go together/);
    expect(() => resolveEtcdOptions({ etcdCert: '/cert.pem', etcdKey: '/key.pem' }, {}, readFile)).toThrow(/needs --etcd-cacert/);
    expect(() => resolveEtcdOptions({ etcdCacert: '/missing.pem' }, {}, readFile)).toThrow(/cannot read CA certificate/);
    expect(() => resolveEtcdOptions({ etcdEndpoints: 'https://a:1' }, {})).toThrow(/need --etcd-cacert/);
  });

  it('takes the password from the env, a file, or etcdctl user:password, in that order of strength', () => {
    expect(resolveEtcdOptions({ etcdUser: 'u' }, { GALERA_HAPROXY_ETCD_PASSWORD: 'p1' }).auth).toEqual({ username: 'u', password: 'p1' });
    expect(resolveEtcdOptions({ etcdUser: 'u', etcdPasswordFile: '/pw' }, { GALERA_HAPROXY_ETCD_PASSWORD: 'p1' }, readFile).auth).toEqual({
      username: 'u',
      password: 's3cret',
    });
    expect(resolveEtcdOptions({}, { ETCDCTL_USER: 'u:p:with:colons' }).auth).toEqual({ username: 'u', password: 'p:with:colons' });
    expect(resolveEtcdOptions({}, { ETCDCTL_USER: 'u', ETCDCTL_PASSWORD: 'p2' }).auth).toEqual({ username: 'u', password: 'p2' });
  });

  it('explains auth mistakes', () => {
    expect(() => resolveEtcdOptions({ etcdUser: 'u' }, {})).toThrow(/no password for etcd user 'u'/);
    expect(() => resolveEtcdOptions({ etcdPasswordFile: '/pw' }, {}, readFile)).toThrow(/needs --etcd-user/);
    expect(() => resolveEtcdOptions({ etcdUser: ':p' }, {})).toThrow(/empty user name/);
    expect(() => resolveEtcdOptions({ etcdUser: 'u', etcdPasswordFile: '/nope' }, {}, readFile)).toThrow(/cannot read password file/);
  });

  it('validates numbers', () => {
    expect(() => resolveEtcdOptions({ resyncMs: -1 }, {})).toThrow(/--resync/);
    expect(resolveEtcdOptions({ resyncMs: 0 }, {}).resyncIntervalMs).toBe(0);
  });

  it('never exposes the password or key material in what it logs', () => {
    const o = resolveEtcdOptions({ etcdUser: 'u', etcdCacert: '/ca.pem' }, { GALERA_HAPROXY_ETCD_PASSWORD: 'topsecret' }, readFile);
    const logged = JSON.stringify(describeEtcdOptions(o));
    expect(logged).not.toContain('topsecret');
    expect(logged).not.toContain('CA');
    expect(logged).toContain('"user":"u"');
  });
});
