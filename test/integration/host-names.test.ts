import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { runtimeServers, showProc } from '../helpers/runtime.js';
import type { RuntimeServer } from '../../src/plan/types.js';

// Nodes registered by host name, through the real CLI against a real etcd and HAProxy. The names live in
// a hosts file handed to the daemon with --hosts-file (the machine's /etc/hosts is left alone); HAProxy
// starts from a file whose server `a` says `localhost`, as a config written before names were resolved
// by the daemon did. Fake Galera nodes on 127.0.0.71–73.
const PREFIX = '/components/galera';
const IPS = ['127.0.0.71', '127.0.0.72', '127.0.0.73'] as const;
const NAME_B = 'node-b.galera.test';
const REPAIR_MS = 300;
const CHECK_INTER_MS = 300;
const RISE = 3;

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let configPath: string;
let templatePath: string;
let hostsFile: string;
let stateFile: string;

const server = async (name: string): Promise<RuntimeServer | undefined> => (await runtimeServers(statsSocket, 'galera')).find((s) => s.name === name);
const reloadCount = async (): Promise<number> => (await showProc(haproxy.masterSocket)).reloads;
const untilUp = (name: string, address: string) =>
  eventually(`server ${name} UP at ${address}`, async () => {
    const s = await server(name);
    return s?.address === address && s.operState === 2 ? s : undefined;
  });
const opsOn = (name: string, from: number): LogEntry[] => watcher!.logs.slice(from).filter((e) => e.msg === 'runtime op applied' && e.server === `galera/${name}`);
const drifted = (from: number): LogEntry[] => watcher!.logs.slice(from).filter((e) => typeof e.msg === 'string' && e.msg.startsWith('HAProxy had drifted'));

/** Reads the server every 50 ms for `ms` and returns every operational state seen. */
async function statesDuring(name: string, ms: number): Promise<number[]> {
  const seen: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; ) {
    seen.push((await server(name))?.operState ?? -1);
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-hosts-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of IPS) nodes.push(await startFakeGaleraNode({ ip }));
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'custom.cfg.njk');
  hostsFile = join(dir.path, 'hosts');
  stateFile = join(dir.path, 'server-state');
  await writeFile(hostsFile, `# names of the test nodes\n${IPS[1]} ${NAME_B}\n`);
  await writeFile(templatePath, await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8'));
  const common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--template', templatePath,
    '--set', `listen=127.0.0.1:${await freePort()}`,
    '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${stateFile}`,
    '--set', `check_inter=${CHECK_INTER_MS}ms`,
    '--set', `rise=${RISE}`,
    '--hosts-file', hostsFile,
    '--resolve-interval', '200ms',
    '--log-level', 'debug',
  ];
  await client.put(`${PREFIX}/a/ip`).value(IPS[0]);
  const first = await runCli(['render', '--check', ...common]);
  expect(first.code, first.stderr).toBe(0);
  // A file from before: HAProxy resolves `localhost` itself and keeps it as the server's srv_fqdn.
  await writeFile(configPath, first.stdout.replace(`server a ${IPS[0]}:3306`, 'server a localhost:3306'));
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon(['watch', ...common, '--config', configPath, '--master-socket', haproxy.masterSocket, '--stats-socket', statsSocket, '--repair-interval', `${REPAIR_MS}ms`]);
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

describe('nodes registered by host name', () => {
  it('moves a server HAProxy resolved by name to its IP once; drift repair then leaves it alone', async () => {
    const a = await untilUp('a', IPS[0]);
    // 2.6 resolved `localhost` and keeps it as srv_fqdn after `set server addr`; 3.0 in its chroot cannot
    // resolve it (no address, "only supported through configuration file"), so the IP comes by a reload.
    if (a.fqdn === 'localhost') expect(opsOn('a', 0).map((e) => e.op)).toEqual(['set-addr']);
    else expect(await reloadCount()).toBe(1);
    await eventually('the file names a by IP', async () => ((await readFile(configPath, 'utf8')).includes(`server a ${IPS[0]}:3306`) ? true : undefined));
    const mark = watcher!.logs.length;
    const seen = await statesDuring('a', 4 * REPAIR_MS + 200);
    expect(seen.every((s) => s === 2), `a left UP: ${seen.join(',')}`).toBe(true);
    expect(opsOn('a', mark)).toEqual([]);
    expect(drifted(mark)).toEqual([]);
  });

  it('adds a node registered by host name through the runtime, and it comes UP', async () => {
    const reloads = await reloadCount();
    const mark = watcher!.logs.length;
    await client.put(`${PREFIX}/b/ip`).value(NAME_B);
    const b = await untilUp('b', IPS[1]);
    expect(opsOn('b', mark).map((e) => e.op)).toEqual(['add']);
    expect(await reloadCount()).toBe(reloads);
    expect(b.fqdn).toBeUndefined();
    const line = watcher!.logs.find((e) => e.hostname === NAME_B && e.address === IPS[1]);
    expect(line?.msg).toBe(`host name ${NAME_B} resolved to ${IPS[1]}`);
    expect(await readFile(configPath, 'utf8')).toContain(`server b ${IPS[1]}:3306`);
  });

  it('keeps a host-name node UP across a reload (server-state file)', async () => {
    await untilUp('b', IPS[1]);
    const reloads = await reloadCount();
    // A new section changes the structure: the daemon reloads and writes the state file first.
    await appendFile(templatePath, '\nuserlist reload_marker\n');
    await eventually('a reload', async () => ((await reloadCount()) > reloads ? true : undefined));
    const state = await readFile(stateFile, 'utf8');
    const line = state.split('\n').find((l) => l.split(' ')[3] === 'b')?.split(' ');
    expect(line?.[4]).toBe(IPS[1]);
    expect(line?.[5]).toBe('2');
    // Coming back DOWN would take rise × inter (900 ms) of checks; the new worker must start it UP.
    const seen = await statesDuring('b', RISE * CHECK_INTER_MS + 300);
    expect(seen.every((s) => s === 2), `b states after the reload: ${seen.join(',')}`).toBe(true);
  });

  it('moves between name and IP with one set-addr each way, and drift repair then sends nothing', async () => {
    await untilUp('b', IPS[1]);
    const reloads = await reloadCount();
    let mark = watcher!.logs.length;
    await client.put(`${PREFIX}/b/ip`).value(IPS[2]);
    await untilUp('b', IPS[2]);
    let seen = await statesDuring('b', 4 * REPAIR_MS);
    expect(opsOn('b', mark).map((e) => e.op)).toEqual(['set-addr']);
    expect(drifted(mark)).toEqual([]);
    expect(seen.every((s) => s === 2), `b after name→IP: ${seen.join(',')}`).toBe(true);

    mark = watcher!.logs.length;
    await client.put(`${PREFIX}/b/ip`).value(NAME_B);
    await untilUp('b', IPS[1]);
    seen = await statesDuring('b', 4 * REPAIR_MS);
    expect(opsOn('b', mark).map((e) => e.op)).toEqual(['set-addr']);
    expect(drifted(mark)).toEqual([]);
    expect(seen.every((s) => s === 2), `b after IP→name: ${seen.join(',')}`).toBe(true);
    expect(await reloadCount()).toBe(reloads);
  });

  it('follows a changed address of the name with one set-addr, without an etcd event', async () => {
    await untilUp('b', IPS[1]);
    const mark = watcher!.logs.length;
    await writeFile(hostsFile, `${IPS[2]} ${NAME_B}\n`);
    await untilUp('b', IPS[2]);
    await statesDuring('b', 4 * REPAIR_MS);
    expect(opsOn('b', mark).map((e) => e.op)).toEqual(['set-addr']);
    expect(drifted(mark)).toEqual([]);
  });

  it('keeps the last good address of a name that stops resolving, and rejects a name never resolved', async () => {
    const mark = watcher!.logs.length;
    await writeFile(hostsFile, '# empty\n');
    const warning = await watcher!.waitForLog((e) => e.level === 'warn' && e.hostname === NAME_B);
    expect(warning.msg).toContain(`keeping its last address ${IPS[2]}`);
    await client.put(`${PREFIX}/c/ip`).value('node-c.galera.test');
    const rejected = await watcher!.waitForLog((e) => typeof e.msg === 'string' && e.msg.includes('node rejected') && e.key === `${PREFIX}/c/ip`);
    expect(rejected.msg).toContain('host name node-c.galera.test does not resolve');
    expect((await server('b'))?.address).toBe(IPS[2]);
    expect(await server('c')).toBeUndefined();
    expect(opsOn('b', mark)).toEqual([]);
    expect(watcher!.logs.slice(mark).filter((e) => e.level === 'warn' && e.hostname === NAME_B)).toHaveLength(1);
  });
});
