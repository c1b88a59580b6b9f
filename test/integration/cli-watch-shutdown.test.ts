import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, startCliDaemon, type CliDaemon } from '../helpers/cli.js';

// `watch` must stop promptly on SIGTERM whatever etcd is doing: never reached, gone mid-run, or while
// the source and the loop back off. An orchestrator kills what does not stop within its grace period.
const PREFIX = '/components/galera';
const STOP_BOUND_MS = 2000;

let dir: TempDir;
let etcd: EtcdServer;
const daemons: CliDaemon[] = [];
const timings: Record<string, number> = {};

async function watchAgainst(endpoint: string, extra: string[] = [], statsSocket = join(dir.path, 'absent.sock')): Promise<CliDaemon> {
  const configPath = join(dir.path, `haproxy-${daemons.length}.cfg`);
  await writeFile(configPath, '# left as it is while etcd is unreachable\n');
  const daemon = startCliDaemon([
    'watch', '--etcd-endpoints', endpoint, '--prefix', PREFIX, '--config', configPath,
    '--reload-cmd', 'true', '--stats-socket', statsSocket,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--log-level', 'debug', ...extra,
  ]);
  daemons.push(daemon);
  return daemon;
}

async function stopTimed(daemon: CliDaemon, what: string): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await daemon.stop('SIGTERM', 15_000);
  const ms = Date.now() - started;
  timings[what] = ms;
  return { code, ms };
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-stop-');
  etcd = await startEtcd();
});

afterAll(async () => {
  console.log(`SIGTERM to exit, ms: ${JSON.stringify(timings)}`);
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch stops on SIGTERM within 2 s', () => {
  it('while etcd was never reachable (still waiting for the first snapshot)', async () => {
    const daemon = await watchAgainst(`http://127.0.0.1:${await freePort()}`);
    await daemon.waitForLog((e) => e.msg === 'etcd unavailable; retrying with backoff');
    const { code, ms } = await stopTimed(daemon, 'never reachable');
    expect(code, daemon.output()).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
  });

  it('while etcd was never reachable, after the start timeout, in backoff', async () => {
    const daemon = await watchAgainst(`http://127.0.0.1:${await freePort()}`);
    await daemon.waitForLog((e) => e.msg.startsWith('no snapshot from etcd yet'), 20_000);
    await new Promise((r) => setTimeout(r, 3000));
    const { code, ms } = await stopTimed(daemon, 'never reachable, backing off');
    expect(code, daemon.output()).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
  });

  it('while held back by --min-servers, with /healthz 503 as unable_to_sync says', async () => {
    const client = etcd.client();
    await client.put(`${PREFIX}/solo`).value('127.0.0.64');
    const statusUrl = `http://127.0.0.1:${await freePort()}`;
    const daemon = await watchAgainst(etcd.endpoint, ['--min-servers', '5', '--status-listen', statusUrl.slice('http://'.length)]);
    await daemon.waitForLog((e) => e.msg === 'status endpoint listening');
    const metrics = await eventually('unable_to_sync at 1', async () => {
      const text = await (await fetch(`${statusUrl}/metrics`)).text();
      return /^galera_haproxy_unable_to_sync 1$/m.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/^galera_haproxy_unable_to_sync 1$/m);
    const health = await fetch(`${statusUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/unable to sync/);
    const status = (await (await fetch(`${statusUrl}/status`)).json()) as { healthy: boolean; unableToSync: number; problems: string[] };
    expect(status).toMatchObject({ healthy: false, unableToSync: 1 });
    expect(status.problems).toContain('unable to sync HAProxy with etcd');
    const { code, ms } = await stopTimed(daemon, 'held back, status served');
    expect(code, daemon.output()).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
    await client.delete().key(`${PREFIX}/solo`);
  });

  it('after etcd went away mid-run, during a pass waiting for HAProxy to answer', async () => {
    const client = etcd.client();
    await client.put(`${PREFIX}/a`).value('127.0.0.63');
    // A stats socket that accepts and never answers (a worker too busy to reply) keeps every pass busy
    // until the socket timeout, so the signal arrives while one is in flight.
    const stuckPath = join(dir.path, 'stuck.sock');
    const stuck: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => stuck.listen(stuckPath, resolve));
    const daemon = await watchAgainst(etcd.endpoint, [], stuckPath);
    await daemon.waitForLog((e) => e.msg === 'etcd snapshot read');
    await daemon.waitForLog((e) => e.msg === 'node added');
    await etcd.stop();
    await daemon.waitForLog((e) => e.msg === 'etcd watch disconnected; reconnecting');
    await eventually('the source to back off', async () => (daemon.logs.some((e) => e.msg === 'etcd unavailable; retrying with backoff') ? true : undefined), 10_000);
    const first = await stopTimed(daemon, 'etcd gone mid-run');
    expect(first.code, daemon.output()).toBe(0);
    expect(first.ms, daemon.output()).toBeLessThan(STOP_BOUND_MS);
    stuck.close();
    await etcd.start();
  });
});
