import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';

// What an operator reads at the default level: one line per pass saying what HAProxy got, not one
// line per node of the etcd diff, and an etcd outage as a warning and a recovery, not a flood.
const PREFIX = '/components/galera';
const IPS = ['127.0.0.151', '127.0.0.152', '127.0.0.153', '127.0.0.154', '127.0.0.155'];
const ADDED_IP = '127.0.0.156';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;

const info = (from = 0): LogEntry[] => watcher!.logs.slice(from).filter((e) => e.level === 'info');
const naming = (entries: LogEntry[], word: string): LogEntry[] => entries.filter((e) => JSON.stringify(e).includes(word));

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-log-volume-');
  etcd = await startEtcd();
  client = etcd.client();
  const statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  for (const [i, ip] of IPS.entries()) await client.put(`${PREFIX}/n${i + 1}`).value(`${ip}:3306`);
  const sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
  ];
  const first = await runCli(['render', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket]);
  await watcher.waitForLog((e) => e.msg === 'watching etcd', 30_000);
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch logs at the default level', () => {
  it('starts with one summary line counting the nodes, and no line per node', async () => {
    const summary = await watcher!.waitForLog((e) => e.msg === 'HAProxy already up to date');
    expect(summary).toMatchObject({ level: 'info', nodes: IPS.length });
    expect(info().filter((e) => e.msg.startsWith('node '))).toEqual([]);
    for (const ip of IPS) expect(naming(info(), ip)).toEqual([]);
  });

  it('names one added node in exactly one info line', async () => {
    const from = watcher!.logs.length;
    await client.put(`${PREFIX}/n6`).value(`${ADDED_IP}:3306`);
    const summary = await watcher!.waitForLog((e) => watcher!.logs.indexOf(e) >= from && e.msg === 'HAProxy updated by runtime');
    expect(summary).toMatchObject({ level: 'info', added: ['n6'] });
    // A moment for any straggler line of the same pass (the file written behind the runtime ops).
    await new Promise((r) => setTimeout(r, 1000));
    expect(naming(info(from), '"n6"').map((e) => e.msg)).toEqual(['HAProxy updated by runtime']);
  });
});

describe('watch logs through an etcd outage', () => {
  it('warns once that etcd is gone and once that it answers again, with how long it was gone', async () => {
    // The first pass is done: the daemon has read etcd and watches it.
    await watcher!.waitForLog((e) => e.msg === 'HAProxy already up to date');
    const from = watcher!.logs.length;
    await etcd.stop();
    // A few seconds of outage: etcd3 retries the watch every few ms, each retry used to be a warning.
    await new Promise((r) => setTimeout(r, 5000));
    const during = watcher!.logs.slice(from).filter((e) => e.level === 'warn' || e.level === 'info');
    await etcd.start();
    const back = await watcher!.waitForLog((e) => watcher!.logs.indexOf(e) >= from && e.msg === 'etcd answering again', 30_000);
    expect(back.level).toBe('info');
    expect(back['downMs']).toBeGreaterThanOrEqual(4000);
    expect(during.filter((e) => e.msg.startsWith('etcd watch disconnected'))).toHaveLength(1);
    expect(during.length).toBeLessThanOrEqual(3);
    expect(watcher!.logs.slice(from).filter((e) => e.msg === 'etcd answering again')).toHaveLength(1);
  });
});
