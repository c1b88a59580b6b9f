import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplier, type RuntimeApplier } from '../../src/apply/runtime-applier.js';
import { ApplyError } from '../../src/errors.js';
import { silentLogger } from '../../src/observe/logger.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { readGreeting, runtimeServers, showProc, waitFor } from '../helpers/runtime.js';

// Guards of the runtime path against a real HAProxy: no reload while the stats socket cannot be read,
// default-server keywords of `defaults` reaching servers added at runtime, and a re-addressed server
// earning its traffic. Fake nodes on 127.0.0.84–89.

interface Entry {
  node: FakeGaleraNode;
  name: string;
  weight?: number;
}

let dir: TempDir;
let haproxy: RunningHaproxy | undefined;
let applier: RuntimeApplier;
let statsSocket: string;
let configPath: string;
let listenPort: number;
let port = 0;
let checkPort = 0;
let stuck: Server | undefined;
const nodes: FakeGaleraNode[] = [];

/** `check` comes only from the defaults section; the proxy's own default-server says something else. */
function render(entries: readonly Entry[], revision: string): string {
  const servers = entries.map((e) => `  server ${e.name} ${e.node.ip}:${e.node.port} weight ${e.weight ?? 10}`).join('\n');
  return `# generated, revision ${revision}
global
  master-worker
  stats socket ${statsSocket} mode 600 level admin expose-fd listeners
  server-state-file ${join(dir.path, 'server-state')}
  hard-stop-after 30s

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  load-server-state-from-file global
  default-server check port ${checkPort} inter 100ms rise 2 fall 2 init-addr last,libc,none

listen galera
  bind 127.0.0.1:${listenPort}
  balance roundrobin
  option httpchk
  http-check expect status 200
  default-server on-marked-down shutdown-sessions
${servers}
`;
}

async function node(lastOctet: number, healthy = true): Promise<FakeGaleraNode> {
  const n = await startFakeGaleraNode({ ip: `127.0.0.${lastOctet}`, port, checkPort, healthy });
  nodes.push(n);
  return n;
}

async function server(name: string): Promise<{ operState: number; weight: number; address: string } | undefined> {
  return (await runtimeServers(statsSocket)).find((s) => s.name === name);
}

async function greetings(count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    const line = await readGreeting('127.0.0.1', listenPort);
    seen.set(line, (seen.get(line) ?? 0) + 1);
  }
  return seen;
}

let n84: FakeGaleraNode;
let dead: FakeGaleraNode;

beforeAll(async () => {
  dir = await tempDir('apply-runtime-guards');
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  listenPort = await freePort();
  port = await freePort('127.0.0.84');
  checkPort = await freePort('127.0.0.84');
  n84 = await node(84);
  dead = await node(85, false);
  await writeFile(configPath, render([{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }], '1'));
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  applier = createApplier({ statsSocket, masterSocket: haproxy.masterSocket, minReloadIntervalMs: 0, drainTimeoutMs: 3000, confirmTimeoutMs: 10_000, logger: silentLogger() });
  await waitFor('n84 UP and n85 DOWN', async () => (await server('n84'))?.operState === 2 && (await server('n85'))?.operState === 0);
});

afterAll(async () => {
  stuck?.close();
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  await dir?.remove();
});

describe('a stats socket that does not answer', () => {
  let blind: RuntimeApplier;

  beforeAll(async () => {
    // Accepts and never answers, like a worker too busy to reply in time.
    const path = join(dir.path, 'stuck.sock');
    stuck = createServer(() => undefined);
    await new Promise<void>((resolve) => stuck!.listen(path, () => resolve()));
    blind = createApplier({ statsSocket: path, masterSocket: haproxy!.masterSocket, minReloadIntervalMs: 0, drainTimeoutMs: 3000, confirmTimeoutMs: 2000, socketTimeoutMs: 300, logger: silentLogger() });
  });

  it('drift repair fails as retryable and does not reload: the dead node stays DOWN', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const result = await blind.reconcile(render([{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }], '1'), '1');
    expect(result.outcome).toBe('failed');
    expect(result.error).toBeInstanceOf(ApplyError);
    expect((result.error as ApplyError).retryable).toBe(true);
    const after = await showProc(haproxy!.masterSocket);
    expect(after.reloads).toBe(before.reloads);
    expect(after.workers).toEqual(before.workers);
    expect((await server('n85'))?.operState).toBe(0);
  });

  it('a pass, even one whose structure changed, fails as retryable and does not reload', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const previous = render([{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }], '1');
    const next = render([{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }], '2').replace('balance roundrobin', 'balance leastconn');
    const result = await blind.apply({ previous, next, revision: '2' });
    expect(result.outcome).toBe('failed');
    expect((result.error as ApplyError).retryable).toBe(true);
    expect((await showProc(haproxy!.masterSocket)).reloads).toBe(before.reloads);
  });
});

describe('servers added or moved at runtime', () => {
  let current: Entry[];

  it('a server added at runtime is checked by the default-server of defaults', async () => {
    const sick = await node(86, false);
    const previous = render([{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }], '1');
    current = [{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }, { node: sick, name: 'n86' }];
    const next = render(current, '3');
    await writeFile(configPath, next);
    const result = await applier.apply({ previous, next, revision: '3' });
    expect(result.outcome).toBe('runtime');
    await waitFor('n86 checked 4 times', () => sick.checks() >= 4);
    expect((await server('n86'))?.operState).toBe(0);
    await greetings(20);
    expect(sick.connections()).toBe(0);
    sick.setHealthy(true);
    await waitFor('n86 UP once its check passes', async () => (await server('n86'))?.operState === 2);
  });

  it('a re-addressed server is DOWN at its weight at once, then earns UP', async () => {
    const moved = await node(87);
    const previous = render(current, '3');
    current = [{ node: n84, name: 'n84' }, { node: dead, name: 'n85' }, { node: moved, name: 'n86', weight: 7 }];
    const next = render(current, '4');
    await writeFile(configPath, next);
    const result = await applier.apply({ previous, next, revision: '4' });
    expect(result.outcome).toBe('runtime');
    expect(result.plan.runtimeOps.map((op) => op.op).sort()).toEqual(['set-addr', 'set-weight']);
    expect(await server('n86')).toMatchObject({ address: '127.0.0.87', operState: 0, weight: 7 });
    await waitFor('n86 UP at its new address', async () => (await server('n86'))?.operState === 2);
    expect(await server('n86')).toMatchObject({ address: '127.0.0.87', weight: 7 });
    expect((await greetings(20)).get(moved.greeting)).toBeGreaterThan(0);
  });
});
