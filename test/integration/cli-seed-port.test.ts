import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { runtimeServers } from '../helpers/runtime.js';

// A node registering in the seed layout puts `ip`, then `port` a few ms later. The daemon must not
// serve it on the default port 3306 in between (a wrong server, then a `set server addr` that resets
// its health), yet a node that never writes `port` must still be served on 3306 at once.
// Loopback aliases 127.0.0.185–189.
const PREFIX = '/components/galera';
const FIRST_IP = '127.0.0.185';
const PORT_FOLLOWS_IP = '127.0.0.186';
const IP_ONLY_IP = '127.0.0.187';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
let statsSocket: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const endpoints = async (): Promise<string[]> => (await runtimeServers(statsSocket, 'galera')).map((s) => `${s.address}:${s.port}`).sort();
const untilServer = (want: string) =>
  eventually(`HAProxy serves ${want}`, async () => ((await endpoints()).includes(want) ? true : undefined));
const opsOn = (server: string): LogEntry[] => watcher!.logs.filter((e) => e.msg === 'runtime op applied' && e.server === `galera/${server}`);

/** Samples the runtime every few ms until stopped: every endpoint HAProxy had at any sample. */
function sampleRuntime(): { stop(): Promise<Set<string>> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const e of await endpoints()) seen.add(e);
      await sleep(3);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-seed-port-');
  etcd = await startEtcd();
  client = etcd.client();
  statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  await client.put(`${PREFIX}/a/ip`).value(FIRST_IP);
  await client.put(`${PREFIX}/a/port`).value('3306');
  const sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--log-level', 'debug',
  ];
  const first = await runCli(['render', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', ...sets, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket]);
  await watcher.waitForLog((e) => e.msg === 'watching etcd', 30_000);
  await watcher.waitForLog((e) => e.msg === 'HAProxy already up to date');
});

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch with a seed node whose port follows its ip', () => {
  it('adds it once, on its own port, never on 3306', async () => {
    const sampler = sampleRuntime();
    const ipPut = await client.put(`${PREFIX}/b/ip`).value(PORT_FOLLOWS_IP);
    await sleep(20);
    await client.put(`${PREFIX}/b/port`).value('3307');
    await untilServer(`${PORT_FOLLOWS_IP}:3307`);
    await sleep(300);
    const seen = await sampler.stop();

    // The race happened: a pass ran at the revision that had the ip and not yet the port.
    const ipRevision = ipPut.header.revision;
    expect(watcher!.logs.some((e) => e.msg.startsWith('sync ') && e.revision === ipRevision)).toBe(true);
    expect([...seen].filter((e) => e.startsWith(`${PORT_FOLLOWS_IP}:`))).toEqual([`${PORT_FOLLOWS_IP}:3307`]);
    const added = watcher!.logs.filter((e) => e.msg === 'node added' && e.node === 'b');
    expect(added.map((e) => e.port)).toEqual([3307]);
    expect(watcher!.logs.filter((e) => e.msg === 'node changed' && e.node === 'b')).toEqual([]);
    expect(opsOn(String(added[0]?.server)).map((e) => e.op)).toEqual(['add']);
  });

  it('serves a node that only ever puts its ip on 3306 within a second', async () => {
    const started = performance.now();
    await client.put(`${PREFIX}/c/ip`).value(IP_ONLY_IP);
    await untilServer(`${IP_ONLY_IP}:3306`);
    expect(performance.now() - started).toBeLessThan(1000);
    const added = await watcher!.waitForLog((e) => e.msg === 'node added' && e.node === 'c');
    expect(added.port).toBe(3306);
    // HAProxy lists the server before the watcher's log line of the op has reached this process.
    await watcher!.waitForLog((e) => e.msg === 'runtime op applied' && e.server === `galera/${String(added.server)}`);
    await sleep(300);
    expect(opsOn(String(added.server)).map((e) => e.op)).toEqual(['add']);
  });
});
