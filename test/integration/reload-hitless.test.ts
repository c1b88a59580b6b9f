import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLoad } from '../../bench/lib/load-generator.js';
import { createApplier, type RuntimeApplier } from '../../src/apply/runtime-applier.js';
import { silentLogger } from '../../src/observe/logger.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runtimeServers, showProc, waitFor } from '../helpers/runtime.js';

let dir: TempDir;
let haproxy: RunningHaproxy | undefined;
let applier: RuntimeApplier;
let listenPort = 0;
const nodes: FakeGaleraNode[] = [];

function render(names: readonly string[], timeoutClient: string): string {
  const servers = names.map((name) => {
    const n = nodes[Number(name.slice(1)) - 1];
    return `  server ${name} ${n?.ip ?? ''}:${n?.port ?? 0} weight 10`;
  });
  return `global
  master-worker
  stats socket ${join(dir.path, 'admin.sock')} mode 600 level admin expose-fd listeners
  server-state-file ${join(dir.path, 'server-state')}
  hard-stop-after 10s
defaults
  mode tcp
  timeout connect 2s
  timeout client ${timeoutClient}
  timeout server 30s
  # Without it a check times out after \`inter\` (100 ms): on a saturated machine healthy nodes would be
  # marked down and their sessions shut, which is the machine, not the change under test.
  timeout check 2s
  retries 3
  option redispatch
  load-server-state-from-file global
listen galera
  bind 127.0.0.1:${listenPort}
  balance leastconn
  option httpchk
  http-check expect status 200
  default-server check port ${nodes[0]?.checkPort ?? 0} inter 100ms rise 2 fall 2 on-marked-down shutdown-sessions
${servers.join('\n')}
`;
}

beforeAll(async () => {
  dir = await tempDir('reload-hitless');
  listenPort = await freePort();
  const port = await freePort('127.0.0.141');
  const checkPort = await freePort('127.0.0.141');
  for (let i = 1; i <= 4; i += 1) nodes.push(await startFakeGaleraNode({ ip: `127.0.0.${140 + i}`, port, checkPort }));
  const configPath = join(dir.path, 'haproxy.cfg');
  await writeFile(configPath, render(['n1', 'n2'], '30s'));
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  applier = createApplier({
    statsSocket: join(dir.path, 'admin.sock'),
    masterSocket: haproxy.masterSocket,
    minReloadIntervalMs: 200,
    drainTimeoutMs: 2000,
    confirmTimeoutMs: 10_000,
    logger: silentLogger(),
  });
  await waitFor('n1, n2 UP', async () => (await runtimeServers(join(dir.path, 'admin.sock'))).every((s) => s.operState === 2));
});

afterAll(async () => {
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  await dir?.remove();
});

it('no new connection fails during runtime changes and confirmed reloads', async () => {
  const before = await showProc(haproxy!.masterSocket);
  const load = runLoad({ host: '127.0.0.1', port: listenPort, ratePerSecond: 200, durationMs: 4000 });
  // Alternate runtime membership changes (n3, n4 in and out; never fewer than 2 live) and structural reloads.
  const steps: Array<{ names: string[]; timeout: string }> = [
    { names: ['n1', 'n2', 'n3'], timeout: '30s' },
    { names: ['n1', 'n2', 'n3'], timeout: '31s' },
    { names: ['n1', 'n2', 'n4'], timeout: '31s' },
    { names: ['n1', 'n2', 'n4'], timeout: '32s' },
    { names: ['n2', 'n3', 'n4'], timeout: '32s' },
    { names: ['n2', 'n3', 'n4'], timeout: '33s' },
  ];
  let previous = render(['n1', 'n2'], '30s');
  const timings: Record<string, number[]> = { runtime: [], reload: [] };
  for (const step of steps) {
    await new Promise((r) => setTimeout(r, 400));
    const next = render(step.names, step.timeout);
    await writeFile(join(dir.path, 'haproxy.cfg'), next);
    const result = await applier.apply({ previous, next, revision: step.timeout });
    expect(['runtime', 'reload']).toContain(result.outcome);
    timings[result.outcome]?.push(result.durationMs);
    previous = next;
  }
  const stats = await load;
  const after = await showProc(haproxy!.masterSocket);
  console.log(JSON.stringify({ load: { ...stats, failures: stats.failures.slice(0, 5) }, applyMs: timings, reloads: after.reloads - before.reloads }));
  expect(timings.reload).toHaveLength(3);
  expect(after.reloads - before.reloads).toBe(3);
  expect(stats.attempts).toBeGreaterThan(500);
  expect(stats.failures).toEqual([]);
  expect(stats.ok).toBe(stats.attempts);
});
