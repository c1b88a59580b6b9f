import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { expectAliveWithInspectorClosed } from '../helpers/signals.js';

// The other long-running commands answer the control signals too: SIGUSR1 never opens the inspector,
// SIGUSR2 logs a status line, SIGHUP is logged and does not kill. `watch` is covered with its template in
// cli-watch-template-signals.test.ts. Node address 127.0.0.106, clustercheck on 127.0.0.107 (no MySQL
// behind it: its answer does not matter here).
const PREFIX = '/components/galera';

let etcd: EtcdServer;
let client: Etcd3;
const daemons: CliDaemon[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
}, 60_000);

afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  client?.close();
  await etcd?.destroy();
});

async function expectSignalsHandled(daemon: CliDaemon, status: (line: LogEntry) => void): Promise<void> {
  await expectAliveWithInspectorClosed(daemon);

  let seen = daemon.logs.length;
  daemon.child.kill('SIGUSR2');
  const line = await daemon.waitForLog((e) => daemon.logs.indexOf(e) >= seen && e.msg === 'status' && e.signal === 'SIGUSR2', 5_000);
  expect(line.pid).toBe(daemon.child.pid);
  // The memory figures a sidecar's RSS is followed by: the heap in use is part of the RSS.
  expect(line.heapUsedBytes).toBeGreaterThan(1_000_000);
  expect(line.heapUsedBytes).toBeLessThan(Number(line.rssBytes));
  expect(line.externalBytes).toBeGreaterThan(0);
  status(line);

  seen = daemon.logs.length;
  daemon.child.kill('SIGHUP');
  await daemon.waitForLog((e) => daemon.logs.indexOf(e) >= seen && e.msg === 'SIGHUP: nothing to re-read; still running', 5_000);
  expect(daemon.child.exitCode).toBeNull();
  expect(daemon.child.signalCode).toBeNull();
}

describe('control signals', () => {
  it('register keeps its registration through SIGUSR1, SIGUSR2 and SIGHUP', async () => {
    const daemon = startCliDaemon(['register', '--id', 'db6', '--ip', '127.0.0.106', '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX]);
    daemons.push(daemon);
    await daemon.waitForLog((e) => e.msg === 'registered');
    await expectSignalsHandled(daemon, (line) => expect(line.id).toBe('db6'));
    expect((await client.getAll().prefix(`${PREFIX}/db6/`).keys()).length).toBeGreaterThan(0);
    expect(await daemon.stop()).toBe(0);
    expect(await client.getAll().prefix(`${PREFIX}/db6/`).keys()).toEqual([]);
  });

  it('clustercheck keeps serving through SIGUSR1, SIGUSR2 and SIGHUP', async () => {
    const listen = `127.0.0.107:${await freePort('127.0.0.107')}`;
    const daemon = startCliDaemon(['clustercheck', '--listen', listen, '--mysql-host', '127.0.0.107', '--query-timeout', '200']);
    daemons.push(daemon);
    await daemon.waitForLog((e) => e.msg === 'clustercheck listening');
    await expectSignalsHandled(daemon, (line) => expect(line.listen).toBe(listen));
    expect((await fetch(`http://${listen}/`)).status).toBe(503);
    expect(await daemon.stop()).toBe(0);
  });
});
