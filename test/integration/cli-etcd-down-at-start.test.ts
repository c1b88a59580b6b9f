import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { runtimeServers } from '../helpers/runtime.js';

// The daemon starts while etcd is down: it must serve the config on disk, keep retrying without
// spinning, never exit, and converge once etcd answers.
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
let statsSocket: string;
let configPath: string;

const addresses = async (): Promise<string[]> => (await runtimeServers(statsSocket, 'galera')).map((s) => s.address).sort();

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-etcd-down-');
  etcd = await startEtcd();
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  const client = etcd.client();
  await client.put(`${PREFIX}/a`).value('127.0.0.55');
  await client.put(`${PREFIX}/b`).value('127.0.0.56');
  const sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
  ];
  const first = await runCli(['render', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  await etcd.stop();
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket]);
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch with etcd down at start', () => {
  it('keeps serving the config on disk and stays up', async () => {
    const before = await readFile(configPath, 'utf8');
    await watcher!.waitForLog((e) => typeof e.msg === 'string' && e.msg.includes('no snapshot from etcd yet'), 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(watcher!.child.exitCode).toBeNull();
    expect(await readFile(configPath, 'utf8')).toBe(before);
    expect(await addresses()).toEqual(['127.0.0.55', '127.0.0.56']);
    // Backoff, not a busy loop: the daemon uses a small fraction of one core while it waits.
    const cpu = async (): Promise<number> => {
      const stat = (await readFile(`/proc/${watcher!.child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      return Number(stat[11]) + Number(stat[12]);
    };
    const t0 = await cpu();
    await new Promise((r) => setTimeout(r, 2000));
    expect((await cpu()) - t0).toBeLessThan(100);
  });

  it('converges once etcd answers', async () => {
    await etcd.start();
    const client = etcd.client();
    await client.put(`${PREFIX}/c`).value('127.0.0.57');
    await eventually('c in the runtime', async () => ((await addresses()).includes('127.0.0.57') ? true : undefined), 30_000);
    expect(await addresses()).toEqual(['127.0.0.55', '127.0.0.56', '127.0.0.57']);
  });
});
