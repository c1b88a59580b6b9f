import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { RenderError, describeError } from '../errors.js';
import { decodeCluster, decodeServices } from '../model/decode-cluster.js';
import type { ServiceSpec } from '../model/service.js';
import { serverNameFor } from '../model/server-name.js';
import type { ClusterState, KeyValue } from '../model/types.js';
import { createRenderer, defaultTemplatePath } from './render-config.js';
import { parseServers } from '../plan/parse-servers.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const PREFIX = '/components/galera';
const scratch = mkdtempSync(path.join(tmpdir(), 'render-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function loadNodes(name: string): KeyValue[] {
  const map = JSON.parse(readFileSync(path.join(FIXTURES, 'nodes', `${name}.json`), 'utf8')) as Record<string, string>;
  return Object.entries(map).map(([key, value]) => ({ key, value }));
}

/** Compares with test/fixtures/golden/<name>.cfg; `UPDATE_GOLDEN=1` rewrites the file instead. */
function expectGolden(name: string, text: string): void {
  const file = path.join(FIXTURES, 'golden', `${name}.cfg`);
  if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(file)) {
    if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

function customTemplate(name: string, text: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, text);
  return file;
}

const empty: ClusterState = { nodes: [], rejected: [], incomplete: [] };

describe('default template (golden files)', () => {
  it.each([
    ['empty', [] as KeyValue[], {}],
    ['one-seed', loadNodes('one-seed'), {}],
    ['three-mixed', loadNodes('three-mixed'), {}],
    ['hostile', loadNodes('hostile'), {}],
    [
      'all-options',
      loadNodes('three-mixed'),
      {
        listen: '127.0.0.1:13306',
        read_listen: '127.0.0.1:13307',
        stats_listen: '127.0.0.1:18404',
        stats_socket: '/tmp/galera-haproxy/admin.sock',
        check_port: '19200',
        backend: 'mariadb',
        maxconn: '2000',
        timeout_connect: '3s',
        timeout_client: '1h',
        timeout_server: '1h',
        check_inter: '1s',
        rise: '3',
        fall: '2',
        log_target: 'stdout format raw local0',
      },
    ],
    ['single-writer', loadNodes('three-mixed'), { writer: 'single' }],
  ])('%s', (name, kvs, vars) => {
    const renderer = createRenderer({ vars });
    const decoded = decodeCluster(PREFIX, kvs);
    // Single writer: the writer its etcd record names keeps its weight in the write listener, the others 0.
    const state = name === 'single-writer' ? { ...decoded, writers: new Map([['galera', decoded.nodes[1]?.name ?? null]]) } : decoded;
    expectGolden(name, renderer.render(state, { revision: '1234' }));
  });

  it('renders identical bytes for one state whatever the key order', () => {
    const renderer = createRenderer();
    const kvs = loadNodes('three-mixed');
    const a = renderer.render(decodeCluster(PREFIX, kvs), { revision: '7' });
    const b = renderer.render(decodeCluster(PREFIX, [...kvs].reverse()), { revision: '7' });
    expect(a).toBe(b);
    expect(a).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });

  it('marks a draining node\'s server lines, in the write and the read section, and the plan reads the mark back', () => {
    const kvs: KeyValue[] = [
      { key: `${PREFIX}/a/ip`, value: '10.0.0.1' },
      { key: `${PREFIX}/a/draining`, value: 'true' },
      { key: `${PREFIX}/b/ip`, value: '10.0.0.2' },
      { key: `${PREFIX}/b/backup`, value: 'true' },
      { key: `${PREFIX}/b/draining`, value: 'true' },
      { key: `${PREFIX}/c/ip`, value: '10.0.0.3' },
    ];
    const text = createRenderer({ vars: { read_listen: '127.0.0.1:13307' } }).render(decodeCluster(PREFIX, kvs), { revision: '1' });
    const lines = text.split('\n').filter((line) => /^\s*server\s/.test(line)).map((line) => line.trim());
    expect(lines).toEqual([
      'server a 10.0.0.1:3306 weight 1 # draining',
      'server b 10.0.0.2:3306 weight 1 backup # draining',
      'server c 10.0.0.3:3306 weight 1',
      'server a 10.0.0.1:3306 weight 1 # draining',
      'server b 10.0.0.2:3306 weight 1 # draining',
      'server c 10.0.0.3:3306 weight 1',
    ]);
    expect(parseServers(text).map((s) => `${s.backend}/${s.name}:${String(s.draining === true)}`)).toEqual([
      'galera/a:true', 'galera/b:true', 'galera/c:false', 'galera_read/a:true', 'galera_read/b:true', 'galera_read/c:false',
    ]);
  });

  it('never lets a hostile value add a line', () => {
    const text = createRenderer().render(decodeCluster(PREFIX, loadNodes('hostile')), { revision: '1' });
    expect(text).not.toContain('6.6.6.6');
    expect(text).not.toContain('evil');
    const servers = text.split('\n').filter((line) => /^\s*server\s/.test(line));
    // `dup` wins over `good` for 10.0.0.11:3306 (sorted ids); `joining` has no ip yet.
    expect(servers.map((line) => line.trim().split(/\s+/)[1])).toEqual(['dup', serverNameFor('odd id')]);
  });

  it('renders one section per service, each with its own nodes (two-services golden)', () => {
    const services: ServiceSpec[] = [
      {
        name: 'webserver_nodes', prefix: '/services/webserver/', listen: ['127.0.0.1:8080', '[::1]:8080'], mode: 'http', balance: 'roundrobin',
        check: { type: 'http', method: 'HEAD', path: '/', host: 'localhost', expectStatus: 200 }, serverOptions: ['maxconn', '100'],
        forwardFor: true, minServers: 1, defaultPort: 80, writer: 'multi',
      },
      {
        name: 'galera', prefix: '/components/galera/', listen: ['127.0.0.1:33306'], mode: 'tcp', balance: 'leastconn',
        check: { type: 'http', method: 'GET', path: '/', port: 9200, expectStatus: 200 }, serverOptions: [],
        forwardFor: false, minServers: 1, defaultPort: 3306, writer: 'single', readListen: '127.0.0.1:33307',
      },
      {
        name: 'cache', prefix: '/services/cache/', listen: ['127.0.0.1:11211'], mode: 'tcp', balance: 'source',
        check: { type: 'none' }, serverOptions: [], forwardFor: false, minServers: 0, defaultPort: 11211, writer: 'multi',
      },
    ];
    const kvs: KeyValue[] = [
      { key: '/services/webserver/w1/ip', value: '10.0.1.1' },
      { key: '/services/webserver/w1/host', value: 'web1' },
      { key: '/services/webserver/w2', value: '10.0.1.2:8080' },
      // One machine may serve two tiers: the same address in two sections is no conflict.
      { key: '/components/galera/g1', value: '10.0.1.1' },
      { key: '/components/galera/g2', value: '{"ip": "10.0.2.2", "host": "db2"}' },
      { key: '/elsewhere/x', value: '10.9.9.9' },
    ];
    const text = createRenderer({ services }).render({ ...decodeServices(services, kvs), writers: new Map([['galera', 'db2']]) }, { revision: '42' });
    expectGolden('two-services', text);
    expect(text).not.toContain('10.9.9.9');
  });

  it('renders a service through its own fragment, with the service and its nodes in the context', () => {
    const fragment = customTemplate('web.njk', 'backend {{ service.name }}\n{% for n in nodes %}    server {{ n.name }} {{ n.addr }}:{{ n.port }} weight {{ n.weight }}\n{% endfor %}');
    const services: ServiceSpec[] = [
      { name: 'web', prefix: '/w/', listen: [':80'], mode: 'http', balance: 'leastconn', check: { type: 'tcp' }, serverOptions: [], forwardFor: false, minServers: 0, defaultPort: 80, writer: 'multi', template: fragment },
    ];
    const text = createRenderer({ services }).render(decodeServices(services, [{ key: '/w/a', value: '10.0.0.5' }]), { revision: '1' });
    expect(text).toContain('backend web\n    server a 10.0.0.5:80 weight 1\n');
    expect(text).not.toContain('listen web');
  });

  it('resolves the default template under the package root', () => {
    expect(defaultTemplatePath()).toBe(fileURLToPath(new URL('../../templates/haproxy.cfg.njk', import.meta.url)));
    expect(existsSync(defaultTemplatePath())).toBe(true);
  });
});

describe('guards and errors', () => {
  it('refuses to render a control character from a hand-built state, even with a custom template', () => {
    const template = customTemplate('plain.njk', '{% for n in nodes %}server {{ n.name }} {{ n.addr }}\n{% endfor %}');
    const state: ClusterState = {
      ...empty,
      nodes: [{ id: 'x', name: 'x', address: '10.0.0.1\nserver evil 6.6.6.6', port: 3306, weight: 1, backup: false, keys: [] }],
    };
    expect(() => createRenderer({ templatePath: template }).render(state, { revision: '1' })).toThrow(
      /refusing to render nodes\[0\]\.address/,
    );
  });

  it('reports a template syntax error with file and line', () => {
    const template = customTemplate('broken.njk', 'global\n  maxconn 1\n{% if %}\n');
    let caught: unknown;
    try {
      createRenderer({ templatePath: template });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RenderError);
    expect((caught as RenderError).file).toBe(template);
    expect((caught as RenderError).line).toBe(3);
    expect((caught as RenderError).message).toMatch(new RegExp(`^template ${template}:3`));
  });

  it('prints a syntax error as one line with file:line:col and the nunjucks text once', () => {
    for (const [name, text, expected] of [
      ['token.njk', 'global\n  maxconn 1\n{% if %}\n', /^template .*token\.njk:3:\d+: unexpected token: %}$/],
      ['unclosed.njk', 'global\n{{ foo \n', /^template .*unclosed\.njk: expected variable end$/],
    ] as const) {
      const template = customTemplate(name, text);
      let caught: unknown;
      try {
        createRenderer({ templatePath: template });
      } catch (err) {
        caught = err;
      }
      const line = describeError(caught);
      expect(line).toMatch(expected);
      expect(line).not.toContain('\n');
    }
  });

  it('turns an undefined variable into an error with its line, not an empty directive', () => {
    const template = customTemplate('undef.njk', 'global\n  maxconn {{ maxconn }}\n  nbthread {{ nbthread }}\n');
    const renderer = createRenderer({ templatePath: template });
    expect(() => renderer.render(empty, { revision: '1' })).toThrow(/^template .*undef\.njk:3:\d+: nbthread is not defined$/);
  });

  it('passes custom variables to a custom template and offers the cfg filter', () => {
    const template = customTemplate('vars.njk', 'x {{ site | cfg }} {{ listen }} {{ 3 | cfg }}\n');
    const out = createRenderer({ templatePath: template, vars: { site: 'dc-1' } }).render(empty, { revision: '1' });
    expect(out).toBe('x dc-1 0.0.0.0:3306 3\n');
  });

  it('rejects unknown variables for the default template', () => {
    expect(() => createRenderer({ vars: { lisen: ':3306' } })).toThrow(/unknown variable.*known: listen/);
  });

  it('fails with the path when the template file does not exist', () => {
    expect(() => createRenderer({ templatePath: path.join(scratch, 'missing.njk') })).toThrow(/cannot read template .*missing\.njk/);
  });
});
