import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { runtimeServers, showProc } from '../helpers/runtime.js';

// `--reload-cmd` instead of the master CLI: an argv run without a shell, whose result is still
// confirmed through the stats socket (a new worker answering with the expected servers).
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
let statsSocket: string;
let configPath: string;
let templatePath: string;

// The master re-executes itself on a reload and refuses connections for a moment: ask until it answers.
const reloads = (): Promise<number> =>
  eventually('the master CLI to answer', async () => {
    return (await showProc(haproxy.masterSocket)).reloads;
  });

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-reloadcmd-');
  etcd = await startEtcd();
  client = etcd.client();
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'custom.cfg.njk');
  await writeFile(templatePath, await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8'));
  await client.put(`${PREFIX}/a`).value('127.0.0.51');
  const sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX, '--template', templatePath,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
  ];
  const first = await runCli(['render', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  // SIGUSR2 to the master is what `systemctl reload haproxy` does for a master-worker HAProxy.
  watcher = startCliDaemon(['watch', ...sets, '--config', configPath, '--stats-socket', statsSocket, '--reload-cmd', `kill -USR2 ${haproxy.pid}`, '--min-reload-interval', '0', '--log-level', 'debug']);
  await watcher.waitForLog((e) => e.msg === 'sync noop');
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch --reload-cmd', () => {
  it('reloads through the command when the structure changes, and confirms the new worker', async () => {
    const before = await reloads();
    const template = await readFile(templatePath, 'utf8');
    await writeFile(templatePath, template.replace('balance {{ service.balance }}', 'balance roundrobin'));
    const done = await watcher!.waitForLog((e) => e.msg === 'sync reload' || e.msg.startsWith('sync failed'));
    expect(done.msg).toBe('sync reload');
    expect(await reloads()).toBe(before + 1);
    expect(await readFile(configPath, 'utf8')).toContain('balance roundrobin');
    const servers = await runtimeServers(statsSocket, 'galera');
    expect(servers.map((s) => s.address)).toEqual(['127.0.0.51']);
  });

  it('still carries server-only changes through the Runtime API', async () => {
    const before = await reloads();
    await client.put(`${PREFIX}/b`).value('127.0.0.52');
    await eventually('b in the runtime', async () => {
      const servers = await runtimeServers(statsSocket, 'galera');
      return servers.some((s) => s.address === '127.0.0.52') ? true : undefined;
    });
    expect(await reloads()).toBe(before);
  });

  it('reports a failing reload command and keeps the old file and worker', async () => {
    await watcher!.stop();
    const sets = [
      '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX, '--template', templatePath,
      '--set', `stats_socket=${statsSocket}`, '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    ];
    const before = await readFile(configPath, 'utf8');
    const listen = /bind (\S+)/.exec(before)?.[1] ?? '';
    const template = await readFile(templatePath, 'utf8');
    await writeFile(templatePath, template.replace('balance roundrobin', 'balance {{ service.balance }}'));
    const r = await runCli(['once', ...sets, '--set', `listen=${listen}`, '--config', configPath, '--stats-socket', statsSocket, '--reload-cmd', 'false']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reload command \["false"\] failed/);
    expect(await readFile(configPath, 'utf8')).toBe(before);
  });
});
