import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { greetingFor, startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { readGreeting, runtimeServers, showProc, waitFor } from '../helpers/runtime.js';

// watch --config-file: the file is edited while the daemon runs. A second service appears and goes,
// a broken edit is refused with its line and the running config stays, a restart-only option is named.
// Fake nodes on 127.0.0.245-.249 (Galera .245/.246/.249, the second tier .247/.248).
let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon;
const nodes: FakeGaleraNode[] = [];
let configFile: string;
let statsSocket: string;
let statusUrl: string;
let galeraPort: number;
let webPort: number;
let head: string;

const galeraService = (port: number): string => `  - name: galera
    prefix: /components/galera
    listen: "127.0.0.1:${port}"
    check: { type: http, method: OPTIONS, port: 9200 }
`;
const webService = (port: number): string => `  - name: web
    prefix: /services/web
    listen: "127.0.0.1:${port}"
    default-port: 3306
    check: { type: tcp }
`;

const health = async (): Promise<{ code: number; body: string }> => {
  const r = await fetch(`${statusUrl}/healthz`);
  return { code: r.status, body: await r.text() };
};
/** The master re-executes itself on a reload and refuses its socket for a moment after: asked again. */
const reloads = async (): Promise<number> => {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return (await showProc(haproxy.masterSocket)).reloads;
    } catch (err) {
      if (attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
};

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-config-reload-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of ['127.0.0.245', '127.0.0.246', '127.0.0.247', '127.0.0.248', '127.0.0.249']) nodes.push(await startFakeGaleraNode({ ip }));
  statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  configFile = join(dir.path, 'config.yaml');
  [galeraPort, webPort] = [await freePort(), await freePort()];
  const statusPort = await freePort();
  statusUrl = `http://127.0.0.1:${statusPort}`;
  head = `etcd-endpoints: ${etcd.endpoint}
config: ${configPath}
stats-socket: ${statsSocket}
min-reload-interval: 0s
status-listen: "127.0.0.1:${statusPort}"
set-from-file:
  maxconn: ${join(dir.path, 'maxconn')}
set:
  stats_socket: ${statsSocket}
  server_state_file: ${join(dir.path, 'server-state')}
  check_inter: 200ms
services:
`;
  await writeFile(join(dir.path, 'maxconn'), '4000\n');
  await writeFile(configFile, head + galeraService(galeraPort));
  await client.put('/components/galera/g1').value('127.0.0.245');
  await client.put('/components/galera/g2').value('127.0.0.246');
  await client.put('/services/web/w1').value('127.0.0.247');
  await client.put('/services/web/w2').value('127.0.0.248');
  const first = await runCli(['render', '--check', '--config-file', configFile]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', '--config-file', configFile, '--master-socket', haproxy.masterSocket]);
  await watcher.waitForLog((e) => e.msg === 'HAProxy already up to date' || e.msg.startsWith('HAProxy updated'));
});

afterAll(async () => {
  await watcher?.stop();
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch with an edited config file', () => {
  it('a new service: its prefix is watched and its section comes by one confirmed reload', async () => {
    const before = await reloads();
    expect(await runtimeServers(statsSocket, 'web').catch(() => [])).toEqual([]);
    await writeFile(configFile, head + galeraService(galeraPort) + webService(webPort));
    await watcher.waitForLog((e) => e.msg === 'config file read again; re-rendering' && JSON.stringify(e['added']) === '["web"]');
    await waitFor('web servers in HAProxy', async () => (await runtimeServers(statsSocket, 'web').catch(() => [])).length === 2);
    expect(await reloads()).toBe(before + 1);
    await waitFor('web up', async () => (await runtimeServers(statsSocket, 'web')).filter((s) => s.operState === 2).length === 2);
    expect([greetingFor('127.0.0.247', 3306), greetingFor('127.0.0.248', 3306)]).toContain(await readGreeting('127.0.0.1', webPort));
    // Membership of the new service goes by the Runtime API, as for the first.
    await client.delete().key('/services/web/w2');
    await waitFor('w2 gone', async () => (await runtimeServers(statsSocket, 'web')).length === 1);
    expect(await reloads()).toBe(before + 1);
  });

  it('a broken edit is refused with its line; the running config stays and etcd changes still apply', async () => {
    await writeFile(configFile, `${head + galeraService(galeraPort) + webService(webPort)}bogus: 1\n`);
    const refused = await watcher.waitForLog((e) => e.msg === 'config file refused; the running config stays');
    expect(String(refused['err'])).toContain(`${configFile}:${(head + galeraService(galeraPort) + webService(webPort)).split('\n').length}:`);
    expect(String(refused['err'])).toContain('bogus');
    await waitFor('/healthz 503', async () => (await health()).code === 503);
    expect((await health()).body).toContain(`config file ${configFile} not applied`);
    await client.put('/components/galera/g3').value('127.0.0.249');
    await waitFor('g3 in HAProxy', async () => (await runtimeServers(statsSocket, 'galera')).some((s) => s.address === '127.0.0.249'));
    expect((await runtimeServers(statsSocket, 'web')).length).toBe(1);
  });

  it('the fixed file heals /healthz; a removed service leaves by a reload; a restart-only option is named', async () => {
    const before = await reloads();
    await writeFile(configFile, `${head.replace('min-reload-interval: 0s', 'min-reload-interval: 0s\ndrain-timeout: 5s')}${galeraService(galeraPort)}`);
    const warned = await watcher.waitForLog((e) => e.msg === 'config file changes options that take effect at the next start');
    expect(warned['options']).toEqual(['drain-timeout']);
    await waitFor('web section gone', async () => (await runtimeServers(statsSocket, 'web').catch(() => [])).length === 0);
    expect(await reloads()).toBe(before + 1);
    await waitFor('/healthz 200', async () => (await health()).code === 200);
    const status = (await (await fetch(`${statusUrl}/status`)).json()) as { services: { name: string; valid: number }[] };
    expect(status.services).toEqual([expect.objectContaining({ name: 'galera', valid: 3 })]);
  });

  it('SIGHUP reads a set-from-file secret again; the new value reaches HAProxy by one reload', async () => {
    const before = await reloads();
    await writeFile(join(dir.path, 'maxconn'), '3000\n');
    watcher.child.kill('SIGHUP');
    await watcher.waitForLog((e) => e.msg === 'config file read again; re-rendering' && e['why'] === 'SIGHUP');
    await waitFor('maxconn 3000 in the file', async () => (await readFile(join(dir.path, 'haproxy.cfg'), 'utf8')).includes('maxconn 3000'));
    await waitFor('one reload', async () => (await reloads()) === before + 1);
  });
});
