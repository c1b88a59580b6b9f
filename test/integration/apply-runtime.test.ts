import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { createApplier, type RuntimeApplier } from '../../src/apply/runtime-applier.js';
import { silentLogger } from '../../src/observe/logger.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { readHaproxyVersion, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { readGreeting, runtimeServers, sessionsPerServer, showProc, waitFor } from '../helpers/runtime.js';

interface Entry {
  node: FakeGaleraNode;
  name: string;
  weight?: number;
  backup?: boolean;
  extra?: string;
}

let dir: TempDir;
let haproxy: RunningHaproxy | undefined;
let applier: RuntimeApplier;
let statsSocket: string;
let configPath: string;
let listenPort: number;
let extraBind = '';
let maxconnGlobal = '2000';
const nodes: FakeGaleraNode[] = [];
const blockers: Server[] = [];

function render(entries: readonly Entry[], revision: string): string {
  const servers = entries
    .map((e) => `  server ${e.name} ${e.node.ip}:${e.node.port} weight ${e.weight ?? 10}${e.backup === true ? ' backup' : ''}${e.extra ?? ''}`)
    .join('\n');
  return `# generated, revision ${revision}
global
  master-worker
  maxconn ${maxconnGlobal}
  stats socket ${statsSocket} mode 600 level admin expose-fd listeners
  server-state-file ${join(dir.path, 'server-state')}
  hard-stop-after 30s

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
  load-server-state-from-file global

listen galera
  bind 127.0.0.1:${listenPort}${extraBind}
  balance roundrobin
  option httpchk
  http-check expect status 200
  default-server check port ${nodes[0]?.checkPort ?? 9200} inter 100ms rise 2 fall 2 on-marked-down shutdown-sessions init-addr last,libc,none
${servers}
`;
}

async function write(config: string): Promise<void> {
  await writeFile(configPath, config);
}

/** Each fake node listens on its own loopback alias, on the same two ports, like real Galera hosts. */
async function node(lastOctet: number, port: number, checkPort: number, healthy = true, hold = false): Promise<FakeGaleraNode> {
  const n = await startFakeGaleraNode({ ip: `127.0.0.${lastOctet}`, port, checkPort, healthy, holdConnections: hold });
  nodes.push(n);
  return n;
}

async function greetings(count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    const line = await readGreeting('127.0.0.1', listenPort);
    seen.set(line, (seen.get(line) ?? 0) + 1);
  }
  return seen;
}

async function serverUp(name: string): Promise<boolean> {
  return (await runtimeServers(statsSocket)).some((s) => s.name === name && s.operState === 2);
}

/**
 * A server option the runtime refuses on dynamic servers in 2.6 and 3.0 alike ("'non-stick' option is not
 * accepted for dynamic server") and that the applier passes on: start-up-only keywords such as
 * `resolve-prefer` are dropped before `add server`, and `cookie` is refused by 2.6 only (3.0 ignores it
 * in TCP mode).
 */
const N6_EXTRA = ' non-stick';

let port = 0;
let checkPort = 0;
let n1: FakeGaleraNode;
let n2: FakeGaleraNode;

beforeAll(async () => {
  dir = await tempDir('apply-runtime');
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  listenPort = await freePort();
  port = await freePort('127.0.0.131');
  checkPort = await freePort('127.0.0.131');
  n1 = await node(131, port, checkPort);
  n2 = await node(132, port, checkPort);
  await write(render([{ node: n1, name: 'n1' }, { node: n2, name: 'n2' }], '1'));
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  applier = createApplier({
    statsSocket,
    masterSocket: haproxy.masterSocket,
    minReloadIntervalMs: 0,
    drainTimeoutMs: 3000,
    confirmTimeoutMs: 10_000,
    logger: silentLogger(),
  });
  await waitFor('n1 and n2 UP', async () => (await serverUp('n1')) && (await serverUp('n2')));
});

afterAll(async () => {
  await haproxy?.stop();
  for (const b of blockers) b.close();
  await Promise.all(nodes.map((n) => n.close()));
  await dir?.remove();
});

describe('runtime path (no reload)', () => {
  let current: Entry[] = [];

  it('adds a node whose check fails: DOWN, zero connections, no reload; it earns traffic once healthy', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const n3 = await node(133, port, checkPort, false);
    current = [{ node: n1, name: 'n1' }, { node: n2, name: 'n2' }, { node: n3, name: 'n3' }];
    const previous = render(current.slice(0, 2), '1');
    const next = render(current, '2');
    await write(next);
    const t0 = performance.now();
    const result = await applier.apply({ previous, next, revision: '2' });
    console.log(`runtime add: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(result.outcome).toBe('runtime');
    expect(result.plan.runtimeOps.map((op) => op.op)).toEqual(['add']);
    const added = (await runtimeServers(statsSocket)).find((s) => s.name === 'n3');
    expect(added).toMatchObject({ address: '127.0.0.133', port, weight: 10, adminState: 0, operState: 0 });

    // Let several checks run (rise is 2), so a server wrongly left UP would have had its chance.
    await waitFor('n3 checked 4 times', () => n3.checks() >= 4);
    const seen = await greetings(30);
    expect(seen.get(n3.greeting)).toBeUndefined();
    expect(n3.connections()).toBe(0);

    n3.setHealthy(true);
    await waitFor('n3 UP after rise checks', () => serverUp('n3'));
    expect((await greetings(30)).get(n3.greeting)).toBeGreaterThan(0);
    const after = await showProc(haproxy!.masterSocket);
    expect(after.workers).toEqual(before.workers);
    expect(after.reloads).toBe(before.reloads);
  });

  it('reads one section alone for the single-writer look, and a section HAProxy does not run as no servers', async () => {
    const all = (await applier.runtime!())!;
    const one = (await applier.runtime!('galera'))!;
    expect(one.length).toBeGreaterThan(0);
    expect(one.map((s) => `${s.name} ${s.operState} ${s.weight}`).sort()).toEqual(all.filter((s) => s.backend === 'galera').map((s) => `${s.name} ${s.operState} ${s.weight}`).sort());
    expect(await applier.runtime!('no_such_section')).toEqual([]);
  });

  it('re-addresses and re-weights through the runtime only', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const n4 = await node(134, port, checkPort);
    const previous = render(current, '2');
    current = [{ node: n1, name: 'n1', weight: 5 }, { node: n2, name: 'n2' }, { node: n4, name: 'n3' }];
    const next = render(current, '3');
    await write(next);
    const t0 = performance.now();
    const result = await applier.apply({ previous, next, revision: '3' });
    console.log(`runtime set-weight + set-addr: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(result.outcome).toBe('runtime');
    expect(result.plan.runtimeOps.map((op) => `${op.op}:${op.server.name}`).sort()).toEqual(['set-addr:n3', 'set-weight:n1']);
    const servers = await runtimeServers(statsSocket);
    expect(servers.find((s) => s.name === 'n1')?.weight).toBe(5);
    expect(servers.find((s) => s.name === 'n3')).toMatchObject({ address: '127.0.0.134', port });
    await waitFor('re-addressed n3 UP', () => serverUp('n3'));
    expect((await greetings(30)).get(n4.greeting)).toBeGreaterThan(0);
    expect((await showProc(haproxy!.masterSocket)).workers).toEqual(before.workers);
  });

  it('drains a removed node: no new connections, deleted once its session closes', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const holder = await node(135, port, checkPort, true, true);
    let previous = render(current, '3');
    const withHolder = [...current, { node: holder, name: 'n5' }];
    let next = render(withHolder, '4');
    await write(next);
    expect((await applier.apply({ previous, next, revision: '4' })).outcome).toBe('runtime');
    await waitFor('n5 UP', () => serverUp('n5'));
    // Hold one client session on n5 open through HAProxy.
    const { connect } = await import('node:net');
    let held: import('node:net').Socket | undefined;
    await waitFor('a session on n5', async () => {
      const sock = connect({ host: '127.0.0.1', port: listenPort });
      const line = await new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
      if (line === holder.greeting) {
        held = sock;
        return true;
      }
      sock.destroy();
      return false;
    });

    previous = next;
    next = render(current, '5');
    await write(next);
    const result = await applier.apply({ previous, next, revision: '5' });
    expect(result.outcome).toBe('runtime');
    expect(applier.draining()).toEqual(['galera/n5']);
    const openBefore = holder.connections();
    const seen = await greetings(20);
    expect(seen.get(holder.greeting)).toBeUndefined();
    expect(holder.connections()).toBe(openBefore);
    expect((await sessionsPerServer(statsSocket)).get('galera/n5')).toBe(1);

    held?.destroy();
    await applier.settleDrains();
    expect((await runtimeServers(statsSocket)).map((s) => s.name)).not.toContain('n5');
    expect((await showProc(haproxy!.masterSocket)).workers).toEqual(before.workers);
  });

  it('reconcile repairs drift: a server disabled by hand and one deleted by hand', async () => {
    const config = render(current, '5');
    await sendSocketCommand(statsSocket, 'disable server galera/n1');
    await sendSocketCommand(statsSocket, 'set server galera/n2 state maint; del server galera/n2');
    const drifted = await runtimeServers(statsSocket);
    expect(drifted.find((s) => s.name === 'n1')?.adminState).toBe(1);
    expect(drifted.map((s) => s.name)).not.toContain('n2');

    const result = await applier.reconcile(config, '5');
    expect(result.outcome).toBe('runtime');
    expect(result.plan.runtimeOps.map((op) => `${op.op}:${op.server.name}`).sort()).toEqual(['add:n2', 'repair:n1']);
    const repaired = await runtimeServers(statsSocket);
    expect(repaired.map((s) => s.name).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(repaired.find((s) => s.name === 'n1')?.adminState).toBe(0);
    expect((await applier.reconcile(config, '5')).outcome).toBe('noop');
    await waitFor('n2 UP again', () => serverUp('n2'));
  });

  it('an unexpected runtime reply falls back to one confirmed reload', async () => {
    const before = await showProc(haproxy!.masterSocket);
    const n6 = await node(136, port, checkPort);
    const previous = render(current, '5');
    current = [...current, { node: n6, name: 'n6', extra: N6_EXTRA }];
    const next = render(current, '6');
    await write(next);
    const result = await applier.apply({ previous, next, revision: '6' });
    expect(result.outcome).toBe('reload');
    expect(result.fellBackToReload).toBe(true);
    const after = await showProc(haproxy!.masterSocket);
    expect(after.reloads).toBe(before.reloads + 1);
    expect(after.workers.some((pid) => !before.workers.includes(pid))).toBe(true);
    expect((await runtimeServers(statsSocket)).map((s) => s.name).sort()).toEqual(['n1', 'n2', 'n3', 'n6']);
  });
});

describe('reload path', () => {
  it('structural change: exactly one reload; a new node failing its check gets zero connections', async () => {
    await waitFor('every server UP before the reload', async () => (await runtimeServers(statsSocket)).every((s) => s.operState === 2));
    const before = await showProc(haproxy!.masterSocket);
    const servers = await runtimeServers(statsSocket);
    const entries: Entry[] = servers.map((s) => ({ node: nodes.find((n) => n.ip === s.address)!, name: s.name, weight: s.weight, extra: s.name === 'n6' ? N6_EXTRA : '' }));
    const previous = render(entries, '6');
    const sick = await node(137, port, checkPort, false);
    maxconnGlobal = '3000';
    const next = render([...entries, { node: sick, name: 'n7' }], '7');
    await write(next);
    const t0 = performance.now();
    const result = await applier.apply({ previous, next, revision: '7' });
    console.log(`structural reload confirmed: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(result.outcome).toBe('reload');
    expect(result.plan.reloadReasons[0]).toContain('maxconn');
    const after = await showProc(haproxy!.masterSocket);
    expect(after.reloads).toBe(before.reloads + 1);
    expect((await runtimeServers(statsSocket)).find((s) => s.name === 'n7')?.operState).toBe(0);
    await waitFor('n7 checked 4 times', () => sick.checks() >= 4);
    await greetings(30);
    expect(sick.connections()).toBe(0);
    // Health of the servers that stayed was carried across the reload.
    expect((await runtimeServers(statsSocket)).filter((s) => s.name !== 'n7').every((s) => s.operState === 2)).toBe(true);
    // It was carried by the state file the applier wrote just before the reload: every server that stayed,
    // UP (srv_op_state 2), and a new one DOWN (0). Only the daemon may read it: mode 0600.
    const stateFile = join(dir.path, 'server-state');
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(stateFile, 'utf8')).split('\n').filter((l) => /^\d+ /.test(l));
    for (const s of servers) expect(lines.some((l) => l.split(' ')[3] === s.name && l.split(' ')[5] === '2'), `${s.name} UP in the state file`).toBe(true);
    expect(lines.some((l) => l.split(' ')[3] === 'n7' && l.split(' ')[5] === '0')).toBe(true);
  });

  it('a reload that fails at start (port in use) is reported while the old worker keeps serving', async () => {
    const busyPort = await freePort();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: busyPort }, () => r()));
    blockers.push(blocker);
    const before = await showProc(haproxy!.masterSocket);
    const servers = await runtimeServers(statsSocket);
    const entries: Entry[] = servers.map((s) => ({ node: nodes.find((n) => n.ip === s.address)!, name: s.name, weight: s.weight, extra: s.name === 'n6' ? N6_EXTRA : '' }));
    const previous = render(entries, '7');
    extraBind = `\n  bind 127.0.0.1:${busyPort}`;
    const next = render(entries, '8');
    await write(next);
    const result = await applier.apply({ previous, next, revision: '8' });
    expect(result.outcome).toBe('failed');
    expect(result.error?.message).toMatch(/reload failed/i);
    const { major, minor } = readHaproxyVersion();
    if (major > 2 || minor >= 7) {
      // 2.7+ answers `reload` with its verdict and start-up log: the reason is HAProxy's own alert.
      expect(result.error?.message).toMatch(new RegExp(`\\[ALERT\\].*cannot bind socket.*127\\.0\\.0\\.1:${busyPort}`));
    }
    const after = await showProc(haproxy!.masterSocket);
    expect(after.workers).toEqual(before.workers);
    expect(after.failed).toBeGreaterThan(0);
    // The 100 ms checks can time out on a busy machine and mark servers DOWN for a moment; the claim
    // here is that the old worker still serves, so clients are counted once it has a server UP.
    await waitFor('a server UP in the old worker', async () => (await runtimeServers(statsSocket)).some((s) => s.operState === 2));
    expect((await greetings(5)).size).toBeGreaterThan(0);
  });
});
