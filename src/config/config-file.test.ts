import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { ServiceDraft } from './config-file.js';
import { loadConfigFile, parseConfigFile, type ReadTextFile } from './config-file.js';

const FILE = '/etc/gh/config.yaml';

function errno(code: string): Error {
  return Object.assign(new Error(`${code}: fake`), { code });
}

/** A file system of the given texts; anything else does not exist, `locked` ones are EACCES. */
function files(texts: Record<string, string>, locked: readonly string[] = []): ReadTextFile {
  return (path) => {
    if (locked.includes(path)) throw errno('EACCES');
    const text = texts[path];
    if (text === undefined) throw errno('ENOENT');
    return text;
  };
}

const parse = (text: string, texts: Record<string, string> = {}, locked: readonly string[] = []) =>
  parseConfigFile(text, FILE, files(texts, locked));

/** The one-line error the text is refused with. */
function refusal(text: string, texts: Record<string, string> = {}, locked: readonly string[] = []): string {
  try {
    parse(text, texts, locked);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('the file was accepted');
}

const web = (extra = ''): string => `  - name: web\n    prefix: /services/web\n    listen: "*:80"\n${extra}`;

describe('parseConfigFile: accepted', () => {
  it('turns two services into ServiceSpecs with every default applied', () => {
    const file = parse(
      [
        'services:',
        '  - name: galera',
        '    prefix: /components/galera//',
        '    listen: "*:3306"',
        '    writer: single',
        '    read-listen: ":3307"',
        '    check: { type: http, port: 9200 }',
        '  - name: webserver_nodes',
        '    prefix: /services/web',
        '    listen: ["127.0.0.1:80", "127.0.0.1:81"]',
        '    mode: http',
        '    balance: roundrobin',
        '    forward-for: true',
        '    server-options: [maxconn, 100]',
        '    min-servers: 2',
        '    template: web.njk',
      ].join('\n'),
    );
    const expected: ServiceDraft[] = [
      {
        name: 'galera',
        prefix: '/components/galera/',
        listen: ['*:3306'],
        mode: 'tcp',
        balance: 'first',
        check: { type: 'http', method: 'GET', path: '/', port: 9200, expectStatus: 200 },
        serverOptions: [],
        forwardFor: false,
        minServers: undefined,
        defaultPort: 3306,
        writer: 'single',
        readListen: ':3307',
      },
      {
        name: 'webserver_nodes',
        prefix: '/services/web/',
        listen: ['127.0.0.1:80', '127.0.0.1:81'],
        mode: 'http',
        balance: 'roundrobin',
        check: { type: 'tcp' },
        serverOptions: ['maxconn', '100'],
        forwardFor: true,
        minServers: 2,
        defaultPort: 80,
        writer: 'multi',
        template: '/etc/gh/web.njk',
      },
    ];
    expect(file.services).toEqual(expected);
  });

  it('has no services without services:, and reads options, set and set-from-file', () => {
    const file = parse(
      [
        'min-servers: 2',
        'runtime-api: false',
        'template: t.njk',
        'haproxy-bin: haproxy',
        'reload-cmd: [systemctl, reload, haproxy]',
        'etcd-endpoints: [a:1, b:2]',
        'set:',
        '  maxconn: 100',
        'set-from-file:',
        '  stats_password: secret',
      ].join('\n'),
      { '/etc/gh/secret': 's3cret\n' },
    );
    expect(file.services).toBeNull();
    expect(file.options['min-servers']).toEqual({ value: 2, line: 1 });
    expect(file.options['runtime-api']?.value).toBe(false);
    expect(file.options.template?.value).toBe('/etc/gh/t.njk');
    // A bare command name is looked up in PATH, not next to the file.
    expect(file.options['haproxy-bin']?.value).toBe('haproxy');
    expect(file.options['reload-cmd']?.value).toEqual(['systemctl', 'reload', 'haproxy']);
    expect(file.options['etcd-endpoints']?.value).toBe('a:1,b:2');
    expect(file.vars).toEqual([
      { name: 'maxconn', value: '100', line: 8, key: 'set.maxconn', secret: false },
      { name: 'stats_password', value: 's3cret', line: 10, key: 'set-from-file.stats_password', secret: true },
    ]);
  });

  it('takes an empty file as no settings', () => {
    expect(parse('').options).toEqual({});
    expect(parse('# nothing yet\n').services).toBeNull();
  });
});

describe('parseConfigFile: refused, each with file:line and the key', () => {
  it.each([
    ['a YAML syntax error', 'min-servers: 1\nservices: [\n', /^\/etc\/gh\/config\.yaml:3: not valid YAML: /],
    ['a duplicate key', 'min-servers: 1\nmin-servers: 2\n', /^\/etc\/gh\/config\.yaml:2: not valid YAML: Map keys must be unique/],
    ['an unknown top-level key', 'min-servers: 1\nmin-server: 2\n', '/etc/gh/config.yaml:2: min-server: unknown key'],
    ['a flag-only option', 'nodes: x.json\n', '/etc/gh/config.yaml:1: nodes: unknown key'],
    ['an unknown service key', `services:\n${web('    prot: 80\n')}`, '/etc/gh/config.yaml:5: services[0].prot: unknown key'],
    ['an unknown check key', `services:\n${web('    check:\n      type: http\n      paht: /\n')}`, '/etc/gh/config.yaml:7: services[0].check.paht: unknown key'],
    ['a wrong type at the top', 'min-servers: [1]\n', '/etc/gh/config.yaml:1: min-servers: must be a string or a number'],
    ['a switch that is not a boolean', 'runtime-api: maybe\n', '/etc/gh/config.yaml:1: runtime-api: must be true or false'],
    ['a value the flag would refuse', 'log-level: info\nmin-servers: -1\n', '/etc/gh/config.yaml:2: min-servers: "-1" is not a whole number'],
    ['a zero stale-after', 'stale-after: 0\n', '/etc/gh/config.yaml:1: stale-after: 0 must be longer than 0'],
    ['a wrong type in a service', `services:\n${web('    min-servers: two\n')}`, '/etc/gh/config.yaml:5: services[0].min-servers: must be a whole number'],
    ['a missing service name', 'services:\n  - prefix: /a\n    listen: ":80"\n', '/etc/gh/config.yaml:2: services[0].name: is required'],
    ['a bad mode', `services:\n${web('    mode: udp\n')}`, '/etc/gh/config.yaml:5: services[0].mode: must be one of tcp, http'],
    ['a bad listen address', 'services:\n  - name: a\n    prefix: /a\n    listen: [":80", "nowhere"]\n', /^\/etc\/gh\/config\.yaml:4: services\[0\]\.listen\[1\]: must be an address/],
    ['a service list that is empty', 'services: []\n', '/etc/gh/config.yaml:1: services: must list at least one service'],
    ['set with a list value', 'set:\n  maxconn: [1]\n', '/etc/gh/config.yaml:2: set.maxconn: must be a string or a number'],
  ])('%s', (_, text, expected) => {
    const message = refusal(text);
    if (typeof expected === 'string') expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });

  it('two services of one name', () => {
    const text = `services:\n${web()}  - name: web\n    prefix: /services/other\n    listen: ":81"\n`;
    expect(refusal(text)).toBe('/etc/gh/config.yaml:5: services[1].name: "web" is already the name of services[0]');
  });

  it.each([
    ['*:80', '0.0.0.0:80'],
    ['*:80', ':80'],
    [':80', '0.0.0.0:80'],
    ['127.0.0.1:80', '127.0.0.1:79-81'],
  ])('two services binding one address: %s and %s', (a, b) => {
    const text = `services:\n  - name: a\n    prefix: /a\n    listen: "${a}"\n  - name: b\n    prefix: /b\n    listen:\n      - ":9000"\n      - "${b}"\n`;
    expect(refusal(text)).toBe(`/etc/gh/config.yaml:9: services[1].listen[1]: ${b} is already bound by services[0] (${a})`);
  });

  it('a read-listen on another service\'s listen address, and distinct addresses accepted', () => {
    const text = `services:\n  - name: a\n    prefix: /a\n    listen: ":3306"\n  - name: b\n    prefix: /b\n    listen: ":3307"\n    read-listen: "*:3306"\n`;
    expect(refusal(text)).toBe('/etc/gh/config.yaml:8: services[1].read-listen: *:3306 is already bound by services[0] (:3306)');
    expect(parse(text.replace('*:3306', '127.0.0.1:3306')).services).toHaveLength(2);
  });

  it.each([
    ['/services/web', '/services/web/'],
    ['/services', '/services/web'],
    ['/services/web/a', '/services/web'],
  ])('one prefix inside another: %s and %s', (a, b) => {
    const text = `services:\n  - name: a\n    prefix: ${a}\n    listen: ":80"\n  - name: b\n    prefix: ${b}\n    listen: ":81"\n`;
    expect(refusal(text)).toMatch(/^\/etc\/gh\/config\.yaml:6: services\[1\]\.prefix: .* overlaps .* of services\[0\]: no prefix may lie inside another$/);
  });

  it('a prefix that only shares the start of a name is not inside', () => {
    const text = `services:\n  - name: a\n    prefix: /services/web\n    listen: ":80"\n  - name: b\n    prefix: /services/webserver\n    listen: ":81"\n`;
    expect(parse(text).services?.map((s) => s.prefix)).toEqual(['/services/web/', '/services/webserver/']);
  });

  it('forward-for with mode tcp', () => {
    expect(refusal(`services:\n${web('    forward-for: true\n')}`)).toBe(
      '/etc/gh/config.yaml:5: services[0].forward-for: needs mode: http (option forwardfor adds an HTTP header)',
    );
  });

  it('writer single with a balance other than first', () => {
    expect(refusal(`services:\n${web('    writer: single\n    balance: roundrobin\n')}`)).toBe(
      '/etc/gh/config.yaml:6: services[0].balance: roundrobin contradicts writer: single (a single writer is balance first)',
    );
    expect(parse(`services:\n${web('    writer: single\n    balance: first\n')}`).services?.[0]?.balance).toBe('first');
  });

  it('writer-key: a key under the service\'s prefix, with writer single only', () => {
    expect(parse(`services:\n${web('    writer: single\n    writer-key: /services/web/_leader\n')}`).services?.[0]?.writerKey).toBe('/services/web/_leader');
    expect(parse(`services:\n${web('    writer: single\n')}`).services?.[0]?.writerKey).toBeUndefined();
    expect(refusal(`services:\n${web('    writer: single\n    writer-key: /elsewhere/_writer\n')}`)).toBe(
      "/etc/gh/config.yaml:6: services[0].writer-key: must be a key under the service's prefix /services/web/ (the same watch carries it), without blanks",
    );
    expect(refusal(`services:\n${web('    writer-key: /services/web/_writer\n')}`)).toBe(
      "/etc/gh/config.yaml:5: services[0].writer-key: needs writer: single (it names the single writer's etcd record)",
    );
  });

  it('http check keys on a tcp check', () => {
    expect(refusal(`services:\n${web('    check:\n      port: 9200\n      path: /health\n')}`)).toBe(
      '/etc/gh/config.yaml:7: services[0].check.path: needs type: http (the check is tcp)',
    );
  });

  it('a set-from-file file that cannot be read, or that is not one printable line', () => {
    const text = 'set:\n  a: 1\nset-from-file:\n  stats_password: pw\n';
    expect(refusal(text)).toBe('/etc/gh/config.yaml:4: set-from-file.stats_password: cannot read /etc/gh/pw: does not exist');
    expect(refusal(text, { '/etc/gh/pw': 'x' }, ['/etc/gh/pw'])).toBe(
      '/etc/gh/config.yaml:4: set-from-file.stats_password: cannot read /etc/gh/pw: permission denied',
    );
    expect(refusal(text, { '/etc/gh/pw': 'two\nlines\n' })).toBe(
      '/etc/gh/config.yaml:4: set-from-file.stats_password: /etc/gh/pw is not printable single-line text',
    );
    expect(refusal(text, { '/etc/gh/pw': '\n' })).toBe('/etc/gh/config.yaml:4: set-from-file.stats_password: /etc/gh/pw is empty');
  });
});

describe('loadConfigFile', () => {
  it('names the path and the cause in words when the file cannot be read', () => {
    expect(() => loadConfigFile('/etc/gh/missing.yaml', files({}), { label: '--config-file', optional: false })).toThrow(
      '--config-file /etc/gh/missing.yaml: cannot read it: does not exist',
    );
    expect(() => loadConfigFile(FILE, files({ [FILE]: '' }, [FILE]), { label: '--config-file', optional: false })).toThrow(
      `--config-file ${FILE}: cannot read it: permission denied`,
    );
  });

  it('takes a missing optional file as none, but not an unreadable one', () => {
    expect(loadConfigFile(FILE, files({}), { label: 'config file', optional: true })).toBeNull();
    expect(() => loadConfigFile(FILE, files({ [FILE]: '' }, [FILE]), { label: 'config file', optional: true })).toThrow(/permission denied/);
  });
});
