import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { AdminState } from '../../src/plan/admin-state.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, startCliDaemon, type LogEntry } from '../helpers/cli.js';
import { runtimeServers, showProc, waitFor } from '../helpers/runtime.js';

// `once` removing servers: a one-shot run must not leave them in DRAIN when it exits. Fake Galera
// nodes on 127.0.0.81–83; the one on .82 keeps client connections open.
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let listenPort: number;
let args: string[];

const names = async (): Promise<string[]> => (await runtimeServers(statsSocket, 'galera')).map((s) => s.name).sort();
const logsOf = (stderr: string): LogEntry[] =>
  stderr.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as LogEntry];
    } catch {
      return [];
    }
  });

/** Opens client sessions through HAProxy until one lands on `holder`, and keeps that one open. */
async function holdSessionOn(holder: FakeGaleraNode): Promise<Socket> {
  let held: Socket | undefined;
  await waitFor(`a session held on ${holder.ip}`, async () => {
    const sock = connect({ host: '127.0.0.1', port: listenPort });
    sock.on('error', () => undefined);
    const line = await new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
    if (line === holder.greeting) {
      held = sock;
      return true;
    }
    sock.destroy();
    return false;
  });
  return held!;
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-once-');
  etcd = await startEtcd();
  client = etcd.client();
  nodes.push(await startFakeGaleraNode({ ip: '127.0.0.81' }));
  nodes.push(await startFakeGaleraNode({ ip: '127.0.0.82', holdConnections: true }));
  nodes.push(await startFakeGaleraNode({ ip: '127.0.0.83' }));
  statsSocket = join(dir.path, 'admin.sock');
  const configPath = join(dir.path, 'haproxy.cfg');
  const templatePath = join(dir.path, 'custom.cfg.njk');
  await writeFile(templatePath, await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8'));
  listenPort = await freePort();
  const sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX, '--template', templatePath,
    '--set', `listen=127.0.0.1:${listenPort}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`, '--set', 'check_inter=200ms',
  ];
  for (const [name, ip] of [['a', '127.0.0.81'], ['b', '127.0.0.82'], ['c', '127.0.0.83']] as const) await client.put(`${PREFIX}/${name}`).value(ip);
  const first = await runCli(['render', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  args = ['once', ...sets, '--config', configPath, '--stats-socket', statsSocket, '--master-socket', haproxy.masterSocket, '--min-reload-interval', '0'];
  await waitFor('a, b and c UP', async () => (await runtimeServers(statsSocket, 'galera')).filter((s) => s.operState === 2).length === 3);
});

afterAll(async () => {
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('once removing servers', () => {
  it('deletes an idle removed server before it exits', async () => {
    const reloads = (await showProc(haproxy.masterSocket)).reloads;
    await client.delete().key(`${PREFIX}/c`);
    const t0 = performance.now();
    const r = await runCli([...args, '--drain-timeout', '20s']);
    console.log(`once with an idle drain: ${(performance.now() - t0).toFixed(0)} ms to exit`);
    expect(r.code, r.stderr).toBe(0);
    expect(await names()).toEqual(['a', 'b']);
    expect(logsOf(r.stderr).find((e) => e.msg === 'server drained and deleted')).toMatchObject({ server: 'galera/c', sessionsShut: false });
    expect((await showProc(haproxy.masterSocket)).reloads).toBe(reloads);
  });

  it('keeps an open session until the drain timeout, then shuts it and deletes the server', async () => {
    const holder = nodes[1]!;
    const held = await holdSessionOn(holder);
    const closed = new Promise<void>((resolve) => held.once('close', () => resolve()));
    await client.delete().key(`${PREFIX}/b`);
    const run = runCli([...args, '--drain-timeout', '4s']);
    await waitFor('b in drain', async () => ((await runtimeServers(statsSocket, 'galera')).find((s) => s.name === 'b')?.adminState ?? 0) & AdminState.FDRAIN ? true : false);
    // The session is still there while once waits, past the moment the process used to exit.
    await new Promise((r) => setTimeout(r, 2500));
    expect(holder.openConnections()).toBe(1);
    expect(await names()).toEqual(['a', 'b']);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(await names()).toEqual(['a']);
    const logs = logsOf(r.stderr);
    expect(logs.find((e) => e.msg === 'waiting for removed servers to drain')).toMatchObject({ draining: ['galera/b'], drainTimeoutMs: 4000 });
    expect(logs.find((e) => e.msg === 'server drained and deleted')).toMatchObject({ server: 'galera/b', sessionsShut: true });
    await closed;
    expect(holder.openConnections()).toBe(0);
  });

  it('a stop signal ends the wait: the remaining sessions are shut and the server deleted', async () => {
    const holder = nodes[1]!;
    await client.put(`${PREFIX}/b`).value(holder.ip);
    expect((await runCli([...args])).code).toBe(0);
    await waitFor('b UP again', async () => (await runtimeServers(statsSocket, 'galera')).some((s) => s.name === 'b' && s.operState === 2));
    const held = await holdSessionOn(holder);
    const closed = new Promise<void>((resolve) => held.once('close', () => resolve()));
    await client.delete().key(`${PREFIX}/b`);
    const once = startCliDaemon([...args, '--drain-timeout', '60s']);
    await once.waitForLog((e) => e.msg === 'waiting for removed servers to drain');
    expect(await names()).toContain('b');
    expect(await once.stop('SIGTERM')).toBe(0);
    expect(await names()).not.toContain('b');
    await closed;
    expect(once.logs.find((e) => e.msg === 'server drained and deleted')).toMatchObject({ server: 'galera/b', sessionsShut: true });
  });
});
