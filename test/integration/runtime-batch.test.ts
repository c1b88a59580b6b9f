import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSocketBatch } from '../../src/apply/haproxy-socket.js';
import { createApplier } from '../../src/apply/runtime-applier.js';
import { commands } from '../../src/apply/runtime-commands.js';
import { describeFailures, runBatches, type CommandGroup } from '../../src/apply/runtime-batch.js';
import { silentLogger } from '../../src/observe/logger.js';
import type { ServerSpec } from '../../src/plan/types.js';
import { dynamicBackendConfig, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runtimeServers, showProc } from '../helpers/runtime.js';

// Loopback 127.0.0.250–254: HAProxy listens on .250; the servers point at .251–.254, where nothing
// listens (their checks fail, which is what a server that has not earned its traffic looks like).
const COUNT = 1000;
let dir: TempDir;
let haproxy: RunningHaproxy | undefined;
let statsSocket: string;
let configPath: string;
let listenPort: number;

interface Entry {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly extra?: string;
}

const entry = (i: number, extra?: string): Entry => ({ name: `n${i}`, address: `127.0.0.${251 + (i % 4)}`, port: 20_000 + i, ...(extra === undefined ? {} : { extra }) });
const seeds: Entry[] = [0, 1, 2].map((i) => ({ name: `seed${i}`, address: '127.0.0.251', port: 19_000 + i }));

function render(servers: readonly Entry[]): string {
  return dynamicBackendConfig({
    statsSocket,
    listen: `127.0.0.250:${listenPort}`,
    stateFile: join(dir.path, 'server-state'),
    servers: servers.map((s) => `server ${s.name} ${s.address}:${s.port} weight 10${s.extra ?? ''}`),
  });
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-runtime-batch-');
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  listenPort = await freePort('127.0.0.250');
});

afterAll(async () => {
  await haproxy?.stop();
  await dir.remove();
});

async function restart(servers: readonly Entry[]): Promise<void> {
  await haproxy?.stop();
  await writeFile(configPath, render(servers));
  haproxy = await startHaproxy({ configPath, dir: dir.path });
}

function applierFor(running: RunningHaproxy, connections: string[][]) {
  return createApplier({
    statsSocket,
    masterSocket: running.masterSocket,
    minReloadIntervalMs: 0,
    drainTimeoutMs: 1000,
    confirmTimeoutMs: 15_000,
    logger: silentLogger(),
    // Smaller batches than the default (256 KiB, which 1000 servers fit in) so that several connections
    // carry the plan and replies are matched across them.
    batchLimits: { maxCommandBytes: 8192, maxBatchBytes: 64 * 1024 },
    // The real socket; only counted, to see the batches.
    sendBatch: (lines) => {
      connections.push([...lines]);
      return sendSocketBatch(statsSocket, lines, { timeoutMs: 30_000 });
    },
  });
}

describe('runtime batches against a real HAProxy', () => {
  it(`adds ${COUNT} servers to a running backend in a few connections, with no reload, each at its address and DOWN until checked`, async () => {
    await restart(seeds);
    const running = haproxy!;
    const before = await showProc(running.masterSocket);
    const connections: string[][] = [];
    const added = Array.from({ length: COUNT }, (_, i) => entry(i));
    const next = render([...seeds, ...added]);
    await writeFile(configPath, next);
    const result = await applierFor(running, connections).apply({ previous: render(seeds), next, revision: '2', allowReload: false });
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('runtime');
    expect(result.plan.decision).toMatch(/^runtime: 1000 ops est\. /);
    // 1000 server changes, 5 commands each (about 190 KB): a few connections, not 1000.
    expect(connections.length).toBeGreaterThan(1);
    expect(connections.length).toBeLessThanOrEqual(5);
    expect(connections.flat()).toHaveLength(COUNT);

    const after = await showProc(running.masterSocket);
    expect(after.reloads).toBe(before.reloads);
    expect(after.workers).toEqual(before.workers);
    const live = new Map((await runtimeServers(statsSocket, 'galera')).map((s) => [s.name, s]));
    expect(live.size).toBe(COUNT + seeds.length);
    for (const e of added) {
      const s = live.get(e.name);
      expect(s, e.name).toBeDefined();
      expect({ address: s?.address, port: s?.port, weight: s?.weight, admin: s?.adminState, oper: s?.operState }, e.name).toEqual({
        address: e.address,
        port: e.port,
        weight: 10,
        // Ready (not in maintenance), and DOWN: health down until its checks pass `rise` times.
        admin: 0,
        oper: 0,
      });
    }
  });

  it("runs a batch with a refused `add server` in the middle: the server and HAProxy's words are named, the rest applied", async () => {
    await restart(seeds);
    const spec = (e: Entry): ServerSpec => ({ backend: 'galera', name: e.name, address: e.address, port: e.port, weight: 10, backup: false });
    const group = (e: Entry, options: string[]): CommandGroup => ({
      label: `galera/${e.name}`,
      commands: [commands.addServer(spec(e), options), commands.enableServer(spec(e))],
    });
    // `non-stick` is valid in the file, but neither 2.6 nor 3.0 takes it on a dynamic server.
    const groups = Array.from({ length: 100 }, (_, i) => group(entry(i), i === 50 ? ['non-stick'] : []));
    const outcome = await runBatches((lines) => sendSocketBatch(statsSocket, lines, { timeoutMs: 30_000 }), groups, { maxCommandBytes: 8192, maxBatchBytes: 2048 });
    expect(outcome.batches).toBeGreaterThan(1);
    expect(outcome.failures).toHaveLength(1);
    expect(outcome.failures[0]?.label).toBe('galera/n50');
    expect(outcome.failures[0]?.command).toBe('add server galera/n50 127.0.0.253:20050 weight 10 non-stick');
    expect(outcome.failures[0]?.reply).toMatch(/non-stick/);
    expect(describeFailures(outcome.failures)).toContain('galera/n50: "add server galera/n50 ');
    const names = new Set((await runtimeServers(statsSocket, 'galera')).map((s) => s.name));
    expect(outcome.applied).toHaveLength(99);
    for (const g of outcome.applied) expect(names.has(g.label.slice('galera/'.length)), g.label).toBe(true);
    expect(names.has('n50')).toBe(false);
  });

  it('carries a plan whose batch HAProxy partly refuses by one reload of the file, which then matches the runtime', async () => {
    await restart(seeds);
    const running = haproxy!;
    const before = await showProc(running.masterSocket);
    const added = Array.from({ length: 100 }, (_, i) => entry(i, i === 50 ? ' non-stick' : undefined));
    const next = render([...seeds, ...added]);
    await writeFile(configPath, next);
    const result = await applierFor(running, []).apply({ previous: render(seeds), next, revision: '3' });
    expect(result.outcome).toBe('reload');
    expect(result.fellBackToReload).toBe(true);
    expect((await showProc(running.masterSocket)).reloads).toBe(before.reloads + 1);
    const live = await runtimeServers(statsSocket, 'galera');
    expect(live.map((s) => s.name).sort()).toEqual([...seeds, ...added].map((e) => e.name).sort());
  });
});
