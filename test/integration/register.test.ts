import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runRegistration, type RegistrationEvent } from '../../src/galera/register.js';
import { silentLogger } from '../../src/observe/logger.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

async function waitUntil<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface KeyState {
  value: string;
  lease: string;
}

async function readKeys(client: Etcd3, prefix: string): Promise<Map<string, KeyState>> {
  const res = await client.getAll().prefix(prefix).exec();
  return new Map(res.kvs.map((kv) => [kv.key.toString(), { value: kv.value.toString(), lease: String(kv.lease) }]));
}

function spawnCli(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe('register against a real etcd', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  const children: ChildProcess[] = [];
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    client = etcd.client();
  });

  afterEach(async () => {
    for (const controller of aborts.splice(0)) controller.abort();
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await etcd?.destroy();
  });

  it('writes the seed keys under a lease; SIGTERM marks the node draining under it, then revokes it', async () => {
    const prefix = '/components/galera';
    const cli = spawnCli([
      'register', '--id', 'db1', '--ip', '127.0.0.11', '--port', '3306', '--host', 'db1.test',
      '--ttl', '30', '--etcd-endpoints', etcd.endpoint, '--prefix', prefix, '--drain-grace', '1s',
    ]);
    children.push(cli.child);
    const keys = await waitUntil('seed keys', async () => {
      const found = await readKeys(client, `${prefix}/db1/`);
      return found.size === 3 ? found : null;
    }, 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${cli.output()}`);
    });
    expect(keys.get(`${prefix}/db1/ip`)?.value).toBe('127.0.0.11');
    expect(keys.get(`${prefix}/db1/port`)?.value).toBe('3306');
    expect(keys.get(`${prefix}/db1/host`)?.value).toBe('db1.test');
    const leases = new Set([...keys.values()].map((k) => k.lease));
    expect(leases.size).toBe(1);
    const [lease] = [...leases];
    expect(lease).not.toBe('0');
    // A TTL of 30 s proves the keys left because of the revoke, not because the lease expired.
    const sentAt = Date.now();
    cli.child.kill('SIGTERM');
    // First the draining mark, under the node's own lease, while the other keys are still there.
    const marked = await waitUntil('draining mark', async () => {
      const found = await readKeys(client, `${prefix}/db1/`);
      return found.has(`${prefix}/db1/draining`) ? found : null;
    }, 5_000);
    expect(marked.get(`${prefix}/db1/draining`)).toEqual({ value: 'true', lease });
    expect(marked.size).toBe(4);
    await waitUntil('keys removed', async () => ((await readKeys(client, `${prefix}/db1/`)).size === 0 ? true : null), 5_000);
    const goneAfterMs = Date.now() - sentAt;
    expect(await cli.exit).toBe(0);
    expect(goneAfterMs).toBeLessThan(30_000);
    console.log(`register: keys gone ${String(goneAfterMs)} ms after SIGTERM`);
  });

  it('exits 2 with a message for an invalid --ip', async () => {
    const cli = spawnCli(['register', '--id', 'x', '--ip', '10.0.0.256', '--etcd-endpoints', etcd.endpoint]);
    children.push(cli.child);
    expect(await cli.exit).toBe(2);
    expect(cli.output()).toContain('--ip');
  });

  it('registers again with a new lease when the lease is revoked from outside', async () => {
    const prefix = '/lost';
    const events: RegistrationEvent[] = [];
    const controller = new AbortController();
    aborts.push(controller);
    const run = runRegistration(
      { id: 'n1', ip: '127.0.0.12', port: 3306, ttlSeconds: 3, layout: 'flat', prefix, client },
      { logger: silentLogger(), signal: controller.signal, onEvent: (e) => events.push(e) },
    );
    const first = await waitUntil('flat key', async () => (await readKeys(client, `${prefix}/`)).get(`${prefix}/n1`) ?? null);
    expect(JSON.parse(first.value)).toEqual({ ip: '127.0.0.12', port: 3306 });
    const revoke = spawnSync('etcdctl', ['--endpoints', etcd.endpoint, 'lease', 'revoke', BigInt(first.lease).toString(16)], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    expect(revoke.status, `etcdctl (apt-get install etcd-client): ${revoke.stderr}`).toBe(0);
    const second = await waitUntil('re-registration', async () => {
      const kv = (await readKeys(client, `${prefix}/`)).get(`${prefix}/n1`);
      return kv !== undefined && kv.lease !== first.lease ? kv : null;
    });
    expect(second.lease).not.toBe('0');
    // etcd shows the keys to other clients as it commits them, a moment before the registering client has
    // read its own reply and reported the registration.
    await waitUntil('the second registration to be reported', async () => (events.length >= 3 ? true : null));
    expect(events.map((e) => e.type)).toEqual(['registered', 'lost', 'registered']);
    controller.abort();
    await run;
    expect((await readKeys(client, `${prefix}/`)).size).toBe(0);
  });

  it('registers again after an etcd outage longer than the TTL', async () => {
    const prefix = '/outage';
    const events: RegistrationEvent[] = [];
    const controller = new AbortController();
    aborts.push(controller);
    // Its own client: the shared one would also have to ride out the restart.
    const own = etcd.client();
    const run = runRegistration(
      { id: 'n3', ip: '127.0.0.13', port: 3306, ttlSeconds: 2, layout: 'seed', prefix, client: own },
      { logger: silentLogger(), signal: controller.signal, onEvent: (e) => events.push(e) },
    );
    const first = await waitUntil('seed key', async () => (await readKeys(client, `${prefix}/`)).get(`${prefix}/n3/ip`) ?? null);
    await etcd.stop();
    // Twice the TTL and more: the client gives the lease up and must register anew.
    await new Promise((r) => setTimeout(r, 6_000));
    await etcd.start();
    const second = await waitUntil('re-registration after the outage', async () => {
      const kv = (await readKeys(client, `${prefix}/`).catch(() => new Map<string, KeyState>())).get(`${prefix}/n3/ip`);
      return kv !== undefined && kv.lease !== first.lease ? kv : null;
    }, 30_000);
    expect(second.value).toBe('127.0.0.13');
    // The keys are visible as etcd commits them, a moment before the client reports the registration.
    await waitUntil('the registration to be reported', async () => (events.at(-1)?.type === 'registered' ? true : null), 5_000).catch(() => null);
    expect(events.filter((e) => e.type === 'lost').length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)?.type).toBe('registered');
    controller.abort();
    await run;
    expect((await readKeys(client, `${prefix}/`)).size).toBe(0);
  });

  it('with --when-healthy, registers only while the URL answers 200', async () => {
    let status = 503;
    const server: Server = createServer((_req, res) => {
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`;
    const prefix = '/healthy';
    const key = `${prefix}/n2/ip`;
    const cli = spawnCli([
      'register', '--id', 'n2', '--ip', '127.0.0.13', '--ttl', '30', '--etcd-endpoints', etcd.endpoint,
      '--prefix', prefix, '--when-healthy', url, '--health-interval', '200',
    ]);
    children.push(cli.child);
    try {
      // Unhealthy at start: give it several probe rounds, then check nothing was written.
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await readKeys(client, `${prefix}/`)).size, cli.output()).toBe(0);
      status = 200;
      await waitUntil('registered when healthy', async () => ((await readKeys(client, `${prefix}/`)).has(key) ? true : null));
      status = 503;
      await waitUntil('deregistered when unhealthy', async () => ((await readKeys(client, `${prefix}/`)).size === 0 ? true : null));
      status = 200;
      await waitUntil('registered again', async () => ((await readKeys(client, `${prefix}/`)).has(key) ? true : null));
      cli.child.kill('SIGTERM');
      expect(await cli.exit).toBe(0);
      expect((await readKeys(client, `${prefix}/`)).size).toBe(0);
    } finally {
      server.close();
    }
  });
});
