import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { runtimeServers } from '../helpers/runtime.js';
import type { RuntimeServer } from '../../src/plan/types.js';

// How `watch` treats registrations as operators write them by hand: a second id on a served address,
// JSON values from other tools, and the seed's UUID ids. Real etcd, HAProxy and CLI; simulated Galera
// nodes on loopback aliases 127.0.0.111–112.
const PREFIX = '/components/galera';
const IPS = ['127.0.0.111', '127.0.0.112'] as const;
const SEED_ID = '3397ba6c-54f3-4c4e-9d0a-0b5e7cca75f4';
const JSON_ID = '9f0c1d2e-1111-4222-8333-944445555666';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let configPath: string;

const runtime = (): Promise<RuntimeServer[]> => runtimeServers(statsSocket, 'galera');
const UP = 2;

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-registration-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of IPS) nodes.push(await startFakeGaleraNode({ ip }));
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  const common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`,
    '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--set', 'check_inter=300ms',
    '--log-level', 'debug',
  ];
  // The seed's registration: a UUID id with ip, port (padded, as the seed writes it) and host.
  await client.put(`${PREFIX}/${SEED_ID}/ip`).value(IPS[0]);
  await client.put(`${PREFIX}/${SEED_ID}/port`).value(' 3306 ');
  await client.put(`${PREFIX}/${SEED_ID}/host`).value('db1');
  const first = await runCli(['render', '--check', ...common]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--drain-timeout', '1s']);
  await watcher.waitForLog((e) => e.msg === 'watching etcd');
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  for (const n of nodes) await n.close();
  await dir?.remove();
});

describe('galera-haproxy watch with hand-written registrations', () => {
  it('names the seed node by its host key', async () => {
    const servers = await eventually('db1 UP in HAProxy', async () => {
      const got = await runtime();
      return got.some((s) => s.name === 'db1' && s.operState === UP) ? got : undefined;
    });
    expect(servers.map((s) => [s.name, `${s.address}:${s.port}`])).toEqual([['db1', `${IPS[0]}:3306`]]);
    expect(await readFile(configPath, 'utf8')).toContain(`server db1 ${IPS[0]}:3306`);
  });

  it('keeps the established UP server when a later id registers its ip:port, and says so once', async () => {
    await client.put(`${PREFIX}/0-dup/ip`).value(IPS[0]);
    const rejected = await watcher!.waitForLog((e) => e.msg.startsWith('node rejected') && e.key === `${PREFIX}/0-dup/ip`);
    // The one line names both keys: the stray one and the one that keeps the address.
    expect(rejected.msg).toContain(`${IPS[0]}:3306 is already served by ${PREFIX}/${SEED_ID}/ip`);

    // Another node joins: a later pass, which must not report the conflict again.
    await client.put(`${PREFIX}/${JSON_ID}`).value(JSON.stringify({ ip: IPS[1], port: '3306', datacenter: 'eu-1' }));
    await watcher!.waitForLog((e) => e.msg === 'node added' && e.node === JSON_ID);

    const servers = await eventually('the JSON node in HAProxy', async () => {
      const got = await runtime();
      return got.length === 2 ? got : undefined;
    });
    const established = servers.find((s) => s.address === IPS[0]);
    expect(established).toMatchObject({ name: 'db1', port: 3306, operState: UP });
    expect(servers.filter((s) => s.address === IPS[0])).toHaveLength(1);
    expect(watcher!.logs.filter((e) => e.msg === 'node removed')).toEqual([]);
    expect(watcher!.logs.filter((e) => e.msg.startsWith('node rejected') && e.key === `${PREFIX}/0-dup/ip`)).toHaveLength(1);
    expect(await readFile(configPath, 'utf8')).not.toContain('0-dup');
  });

  it('takes a JSON value with an unknown field and a port written as a string, naming a UUID id by its first group', async () => {
    const servers = await runtime();
    expect(servers.find((s) => s.address === IPS[1])).toMatchObject({ name: '9f0c1d2e', port: 3306 });
    const note = await watcher!.waitForLog((e) => e.level === 'debug' && e.key === `${PREFIX}/${JSON_ID}` && e.msg.includes('"datacenter"'));
    expect(note.msg).toContain('ignored');
    expect(watcher!.logs.filter((e) => e.msg.startsWith('node rejected') && e.key === `${PREFIX}/${JSON_ID}`)).toEqual([]);
  });
});
