import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, type TempDir } from '../helpers/ports.js';
import { runCli } from '../helpers/cli.js';

/**
 * The config file through the built CLI: `render --nodes` reads no etcd and binds nothing, so these
 * show the layering (file < environment < flags) and the exit-2 lines without any server running.
 */
const PREFIX = '/components/galera';
let dir: TempDir;
let nodes: string;

/** The environment of the test run, without any GALERA_HAPROXY_* of its own. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GALERA_HAPROXY_')));
  return { ...clean, ...extra };
}

beforeAll(async () => {
  dir = await tempDir('cli-config-file');
  nodes = join(dir.path, 'nodes.json');
  await writeFile(nodes, JSON.stringify({ [`${PREFIX}/a/ip`]: '127.0.0.182', [`${PREFIX}/b/ip`]: '127.0.0.183' }));
  await mkdir(join(dir.path, 'etc'));
  await writeFile(join(dir.path, 'etc', 'maxconn'), '123\n');
  await writeFile(
    join(dir.path, 'etc', 'config.yaml'),
    ['min-servers: 3', 'set:', '  listen: 127.0.0.181:3306', 'set-from-file:', '  maxconn: maxconn', ''].join('\n'),
  );
});

afterAll(async () => {
  await dir?.remove();
});

describe('render --config-file', () => {
  it('takes options and variables from the file, the environment over it and flags over both', async () => {
    const file = join(dir.path, 'etc', 'config.yaml');
    // The file asks for 3 servers and only 2 are registered: the guard holds.
    const fromFile = await runCli(['render', '--nodes', nodes, '--config-file', file], { env: env() });
    expect(fromFile.code, fromFile.stderr).toBe(3);
    const fromEnv = await runCli(['render', '--nodes', nodes], { env: env({ GALERA_HAPROXY_CONFIG_FILE: file, GALERA_HAPROXY_MIN_SERVERS: '2' }) });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toContain('bind 127.0.0.181:3306');
    expect(fromEnv.stdout).toContain('maxconn 123');
    const fromFlags = await runCli(['render', '--nodes', nodes, '--config-file', file, '--min-servers', '3', '--set', 'maxconn=77'], {
      env: env({ GALERA_HAPROXY_MIN_SERVERS: '2' }),
    });
    expect(fromFlags.code).toBe(3);
    const set = await runCli(['render', '--nodes', nodes, '--config-file', file, '--min-servers', '1', '--set', 'maxconn=77'], { env: env() });
    expect(set.stdout).toContain('maxconn 77');
    expect(set.stdout).not.toContain('maxconn 123');
  });

  it('a missing --config-file and a bad file are exit 2 with one line', async () => {
    const missing = await runCli(['render', '--nodes', nodes, '--config-file', join(dir.path, 'nope.yaml')], { env: env() });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`galera-haproxy: --config-file ${join(dir.path, 'nope.yaml')}: cannot read it: does not exist`);
    const bad = join(dir.path, 'bad.yaml');
    await writeFile(bad, 'services:\n  - name: web\n    prefix: /web\n    listen: ":80"\n    forward-for: true\n');
    const refused = await runCli(['render', '--nodes', nodes, '--config-file', bad], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(`galera-haproxy: ${bad}:5: services[0].forward-for: needs mode: http (option forwardfor adds an HTTP header)`);
  });

  it('a service fragment using a variable nobody set is exit 2 at start, naming the fragment, its line and the variable', async () => {
    const fragment = join(dir.path, 'etc', 'web.njk');
    await writeFile(fragment, 'listen web\n    bind :8080\n    stats auth admin:{{ stats_password }}\n');
    const file = join(dir.path, 'etc', 'fragment.yaml');
    await writeFile(file, ['services:', '  - name: web', '    prefix: /web', '    listen: ":8080"', '    template: web.njk', ''].join('\n'));
    const r = await runCli(['render', '--nodes', nodes, '--config-file', file], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^galera-haproxy: template ${fragment}:3:\\d+: stats_password is not defined: set it under "set:" in the config file or with --set stats_password=…$`));
  });
});
