import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { defaultVars } from '../render/template-vars.js';
import type { ReadTextFile } from './config-file.js';
import { OPTION_NAMES, envName } from './option-table.js';
import { resolveSettings, type SettingsDeps } from './settings.js';
import { implicitService } from '../render/implicit-service.js';

const FILE = '/etc/gh/config.yaml';

function deps(texts: Record<string, string>, extra: Partial<SettingsDeps> = {}): SettingsDeps {
  const readFile: ReadTextFile = (path) => {
    const text = texts[path];
    if (text === undefined) throw Object.assign(new Error('ENOENT: fake'), { code: 'ENOENT' });
    return text;
  };
  return { cwd: '/work', readFile, defaultConfigFile: '/nonexistent/config.yaml', ...extra };
}

const withFile = (text: string, more: Record<string, string> = {}) => deps({ [FILE]: text, ...more });

describe('resolveSettings: layers', () => {
  it('table defaults, when nothing is given', () => {
    const s = resolveSettings({}, {}, deps({}));
    expect(s.configFile).toBeNull();
    expect(s.services).toBeNull();
    expect(s.options.minServers).toBe(1);
    expect(s.options.drainTimeoutMs).toBe(30_000);
    expect(s.options.runtimeApi).toBe(true);
    expect(s.options.staleAfterMs).toBe(30_000);
    expect(s.options.repairIntervalMs).toBe(5_000);
    expect(s.options.statusListen).toBeUndefined();
    expect(s.etcd.etcdEndpoints).toBe('http://127.0.0.1:2379');
    expect(s.etcd.prefix).toBe('/components/galera');
  });

  it('the file beats the defaults, the environment the file, a flag the environment', () => {
    const file = withFile('min-servers: 2\nruntime-api: false\ndrain-timeout: 5s\nlog-level: warn\n');
    const fileOnly = resolveSettings({ configFile: FILE }, {}, file).options;
    expect([fileOnly.minServers, fileOnly.runtimeApi, fileOnly.drainTimeoutMs, fileOnly.logLevel]).toEqual([2, false, 5_000, 'warn']);
    const env = { GALERA_HAPROXY_MIN_SERVERS: '3', GALERA_HAPROXY_RUNTIME_API: 'true', GALERA_HAPROXY_DRAIN_TIMEOUT: '6s' };
    const envOver = resolveSettings({ configFile: FILE }, env, file).options;
    expect([envOver.minServers, envOver.runtimeApi, envOver.drainTimeoutMs, envOver.logLevel]).toEqual([3, true, 6_000, 'warn']);
    const flagsOver = resolveSettings({ configFile: FILE, minServers: '4', runtimeApi: false }, env, file).options;
    expect([flagsOver.minServers, flagsOver.runtimeApi, flagsOver.drainTimeoutMs]).toEqual([4, false, 6_000]);
  });

  it('etcd: GALERA_HAPROXY_* before ETCDCTL_*, both over the file, the flag over all', () => {
    const file = withFile('etcd-endpoints: http://file:1\netcd-cacert: ca.pem\n');
    expect(resolveSettings({ configFile: FILE }, {}, file).etcd).toMatchObject({ etcdEndpoints: 'http://file:1', etcdCacert: '/etc/gh/ca.pem' });
    const env = { ETCDCTL_ENDPOINTS: 'http://ctl:1', ETCDCTL_CACERT: '/ctl/ca.pem' };
    expect(resolveSettings({ configFile: FILE }, env, file).etcd).toMatchObject({ etcdEndpoints: 'http://ctl:1', etcdCacert: '/ctl/ca.pem' });
    const both = { ...env, GALERA_HAPROXY_ETCD_ENDPOINTS: 'http://gh:1' };
    expect(resolveSettings({ configFile: FILE }, both, file).etcd.etcdEndpoints).toBe('http://gh:1');
    expect(resolveSettings({ configFile: FILE, etcdEndpoints: 'http://flag:1' }, both, file).etcd.etcdEndpoints).toBe('http://flag:1');
  });

  it('an empty variable counts as unset', () => {
    expect(resolveSettings({}, { GALERA_HAPROXY_MIN_SERVERS: '' }, deps({})).options.minServers).toBe(1);
  });

  it('names the source of a bad value', () => {
    expect(() => resolveSettings({}, { GALERA_HAPROXY_MIN_SERVERS: 'x' }, deps({}))).toThrow('GALERA_HAPROXY_MIN_SERVERS "x" is not a whole number');
    expect(() => resolveSettings({ minServers: 'x' }, {}, deps({}))).toThrow('--min-servers "x" is not a whole number');
    expect(() => resolveSettings({}, { ETCDCTL_ENDPOINTS: 'ftp://x:1' }, deps({}))).toThrow(/^ETCDCTL_ENDPOINTS: 'ftp:\/\/x:1' must use http/);
    expect(() => resolveSettings({ staleAfter: '0' }, {}, deps({}))).toThrow('--stale-after 0 must be longer than 0');
  });

  it('template variables: file set, then set-from-file, then --set; the last wins', () => {
    const file = withFile('set:\n  maxconn: 100\n  rise: 3\nset-from-file:\n  rise: rise.txt\n', { '/etc/gh/rise.txt': '4\n' });
    const s = resolveSettings({ configFile: FILE, set: ['maxconn=200'] }, {}, file);
    expect(s.setFlags).toEqual(['maxconn=100', 'rise=3', 'rise=4', 'maxconn=200']);
    expect(s.options.setFlags).toEqual(s.setFlags);
  });

  it('checks the file\'s variables as --set would, naming the file line and never quoting a secret', () => {
    expect(() => resolveSettings({ configFile: FILE }, {}, withFile('min-servers: 1\nset:\n  maxconn: lots\n'))).toThrow(
      '/etc/gh/config.yaml:3: set.maxconn: must be an integer in 1-1000000',
    );
    expect(() => resolveSettings({ configFile: FILE }, {}, withFile('set:\n  colour: red\n'))).toThrow(
      /^\/etc\/gh\/config\.yaml:2: set\.colour: unknown variable for the default template/,
    );
    const secret = withFile('set-from-file:\n  maxconn: pw\n', { '/etc/gh/pw': 'hunter2' });
    expect(() => resolveSettings({ configFile: FILE }, {}, secret)).toThrow('/etc/gh/config.yaml:2: set-from-file.maxconn: must be an integer in 1-1000000');
    // With a custom template, names it does not know are allowed.
    expect(resolveSettings({ configFile: FILE, template: '/t.njk' }, {}, withFile('set:\n  colour: red\n')).setFlags).toEqual(['colour=red']);
  });
});

describe('resolveSettings: the config file', () => {
  it('reads the default file only when it exists', () => {
    expect(resolveSettings({}, {}, deps({ '/nonexistent/other.yaml': 'min-servers: 5\n' })).configFile).toBeNull();
    const s = resolveSettings({}, {}, deps({ '/d/config.yaml': 'min-servers: 5\n' }, { defaultConfigFile: '/d/config.yaml' }));
    expect([s.configFile, s.options.minServers]).toEqual(['/d/config.yaml', 5]);
  });

  it('a missing --config-file (or its variable) is an error naming it', () => {
    expect(() => resolveSettings({ configFile: 'nope.yaml' }, {}, deps({}))).toThrow('--config-file /work/nope.yaml: cannot read it: does not exist');
    expect(() => resolveSettings({}, { GALERA_HAPROXY_CONFIG_FILE: '/x.yaml' }, deps({}))).toThrow(
      'GALERA_HAPROXY_CONFIG_FILE /x.yaml: cannot read it: does not exist',
    );
  });

  it('resolves a relative --config-file against the working directory', () => {
    expect(resolveSettings({ configFile: 'gh/config.yaml' }, {}, deps({ '/work/gh/config.yaml': '' })).configFile).toBe('/work/gh/config.yaml');
  });

  it('gives services the global min-servers after layering, unless they name their own', () => {
    const file = withFile('min-servers: 2\nservices:\n  - name: a\n    prefix: /a\n    listen: ":80"\n  - name: b\n    prefix: /b\n    listen: ":81"\n    min-servers: 0\n');
    expect(resolveSettings({ configFile: FILE }, {}, file).services?.map((s) => s.minServers)).toEqual([2, 0]);
    expect(resolveSettings({ configFile: FILE, minServers: '3' }, {}, file).services?.map((s) => s.minServers)).toEqual([3, 0]);
  });

  it('refuses --prefix, its variable or a prefix: key next to services:', () => {
    const services = 'services:\n  - name: a\n    prefix: /a\n    listen: ":80"\n';
    expect(() => resolveSettings({ configFile: FILE, prefix: '/x' }, {}, withFile(services))).toThrow(
      '--prefix cannot be used with services: (each service names its prefix) in /etc/gh/config.yaml',
    );
    expect(() => resolveSettings({ configFile: FILE }, { GALERA_HAPROXY_PREFIX: '/x' }, withFile(services))).toThrow(/^GALERA_HAPROXY_PREFIX cannot be used/);
    expect(() => resolveSettings({ configFile: FILE }, {}, withFile(`${services}prefix: /x\n`))).toThrow(
      '/etc/gh/config.yaml:5: prefix: cannot be used with services: (each service names its prefix)',
    );
    expect(() => resolveSettings({ configFile: FILE }, {}, withFile(`${services}prefix: /x\n`))).toThrow(ConfigError);
  });
});

describe('env names', () => {
  it('are GALERA_HAPROXY_ and the flag in upper snake case, none for flag-only options', () => {
    expect(envName('min-servers')).toBe('GALERA_HAPROXY_MIN_SERVERS');
    expect(envName('etcd-password-file')).toBe('GALERA_HAPROXY_ETCD_PASSWORD_FILE');
    expect(envName('runtime-api')).toBe('GALERA_HAPROXY_RUNTIME_API');
    expect(envName('set')).toBeNull();
    expect(envName('nodes')).toBeNull();
    for (const name of OPTION_NAMES) expect(envName(name) ?? 'GALERA_HAPROXY_X').toMatch(/^GALERA_HAPROXY_[A-Z_]+$/);
  });
});

describe('implicitService', () => {
  const options = { prefix: '/components/galera', minServers: 1 };

  it('is the Galera listener of the default variables', () => {
    expect(implicitService({}, options)).toEqual({
      name: 'galera',
      prefix: '/components/galera/',
      listen: [defaultVars()['listen']],
      mode: 'tcp',
      balance: 'leastconn',
      check: { type: 'http', method: 'OPTIONS', path: '/', port: 9200, expectStatus: 200 },
      serverOptions: [],
      forwardFor: false,
      minServers: 1,
      defaultPort: 3306,
      writer: 'multi',
    });
  });

  it('follows backend, listen, check_port, writer and read_listen', () => {
    const s = implicitService(
      { backend: 'db', listen: '127.0.0.1:3306', check_port: '9201', writer: 'single', read_listen: ':3307' },
      { prefix: '/p', minServers: 2 },
    );
    expect(s).toMatchObject({ name: 'db', prefix: '/p/', listen: ['127.0.0.1:3306'], balance: 'first', writer: 'single', readListen: ':3307', minServers: 2 });
    expect(s.check).toEqual({ type: 'http', method: 'OPTIONS', path: '/', port: 9201, expectStatus: 200 });
  });
});
