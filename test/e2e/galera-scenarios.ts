import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runClientLoad, type ClientLoadStats } from './client-load.js';
import { sleep, waitFor, type GaleraE2e, type Proxy, type ServerRow } from './galera-harness.js';

export const CLIENT_RATE = 60;

export interface ScenarioResult {
  readonly scenario: string;
  readonly tried: number;
  /** Ticks of the client rate not attempted: the loop ran late, or the in-flight cap was reached. */
  readonly skipped: { readonly late: number; readonly atCap: number };
  readonly connectFailed: number;
  readonly queryFailed: number;
  /**
   * Failures later than 1 s after the fault: not sessions caught in flight on a killed node (those
   * die with it in TCP mode), but new connections the proxy failed to route.
   */
  readonly failedAfterFault: number;
  /** Seconds from the event until HAProxy showed the change, per observation. */
  readonly followed: Record<string, number | null>;
  readonly facts: Record<string, number | string | boolean>;
  readonly perNode: Record<string, number>;
  readonly firstFailures: readonly string[];
}

const isOut = (row: ServerRow | undefined): boolean =>
  row === undefined || /^(DOWN|MAINT|DRAIN|NOLB)/.test(row.status);
const rowFor = (rows: readonly ServerRow[], ip: string, backend = 'galera'): ServerRow | undefined =>
  rows.find((r) => r.backend === backend && r.addr.startsWith(`${ip}:`));
const seconds = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 10) / 100);

async function withLoad<T>(
  port: number,
  env: GaleraE2e,
  body: () => Promise<T>,
): Promise<{ result: T; load: ClientLoadStats }> {
  const abort = new AbortController();
  const loadRun = runClientLoad({
    host: '127.0.0.1',
    port,
    user: env.cluster.appUser.user,
    password: env.cluster.appUser.password,
    ratePerSecond: CLIENT_RATE,
    signal: abort.signal,
    maxDurationMs: 240_000,
  });
  try {
    await sleep(2_000);
    const result = await body();
    await sleep(2_000);
    return { result, load: await stopLoad(abort, loadRun) };
  } catch (err) {
    await stopLoad(abort, loadRun);
    throw err;
  }
}

async function stopLoad(abort: AbortController, run: Promise<ClientLoadStats>): Promise<ClientLoadStats> {
  abort.abort();
  return run;
}

function summarize(
  scenario: string,
  load: ClientLoadStats,
  faultAt: number,
  followed: Record<string, number | null>,
  facts: Record<string, number | string | boolean>,
): ScenarioResult {
  return {
    scenario,
    tried: load.tried,
    skipped: { late: load.skippedLate, atCap: load.skippedAtCap },
    connectFailed: load.connectFailed,
    queryFailed: load.queryFailed,
    failedAfterFault: load.failedAt.filter((at) => at > faultAt + 1_000).length,
    followed,
    facts,
    perNode: load.perNode,
    firstFailures: load.firstFailures,
  };
}

/** Every node registered, checked and UP in HAProxy. */
export async function waitAllUp(env: GaleraE2e, proxy: Proxy, timeoutMs = 60_000): Promise<void> {
  await waitFor('every node UP in HAProxy', timeoutMs, async () => {
    const rows = await proxy.servers();
    return env.cluster.nodes.every((n) => rowFor(rows, n.ip)?.status === 'UP') ? true : undefined;
  });
}

/** kill -9 one mariadbd under load: the node leaves HAProxy by its failed check or its lost registration. */
export async function scenarioKill(env: GaleraE2e, proxy: Proxy, index: number): Promise<ScenarioResult> {
  const node = env.cluster.nodes[index];
  if (node === undefined) throw new Error(`no node ${String(index)}`);
  let faultAt = 0;
  const { result, load } = await withLoad(proxy.listenPort, env, async () => {
    const t0 = performance.now();
    faultAt = Date.now();
    await env.cluster.kill(index);
    let down: number | null = null;
    let removed: number | null = null;
    let deregistered: number | null = null;
    await waitFor(`${node.name} out of HAProxy and etcd`, 30_000, async () => {
      const rows = await proxy.servers();
      const row = rowFor(rows, node.ip);
      const now = performance.now() - t0;
      if (down === null && isOut(row)) down = now;
      if (removed === null && row === undefined) removed = now;
      if (deregistered === null && !(await env.client.get(`${env.prefix}/${node.name}/ip`).exists())) deregistered = now;
      return down !== null && removed !== null && deregistered !== null ? true : undefined;
    }, 50);
    return { down, removed, deregistered };
  });
  return summarize(`kill -9 ${node.name}`, load, faultAt, {
    'check marked DOWN': seconds(result.down),
    'key left etcd': seconds(result.deregistered),
    'server removed': seconds(result.removed),
  }, {});
}

/**
 * Start a killed node again with its grastate.dat removed, which forces a full SST: its donor goes
 * Donor/Desynced for the copy. Samples every 100 ms which nodes the clustercheck fails and how many
 * sessions HAProxy gave them (`stot`), split by whether HAProxy had already taken the node out.
 */
export async function scenarioRejoin(env: GaleraE2e, proxy: Proxy, index: number): Promise<ScenarioResult> {
  const node = env.cluster.nodes[index];
  if (node === undefined) throw new Error(`no node ${String(index)}`);
  await rm(join(node.dir, 'data', 'grastate.dat'), { force: true });
  let faultAt = 0;
  const { result, load } = await withLoad(proxy.listenPort, env, async () => {
    const t0 = performance.now();
    faultAt = Date.now();
    await env.cluster.start(index, { waitSynced: false });
    const others = env.cluster.nodes.filter((n) => n.index !== index);
    const donorStates = new Map<string, number>();
    let newWhile503AndUp = 0;
    let newWhile503AndOut = 0;
    let unhealthySamples = 0;
    let previous = new Map<string, { stot: number; out: boolean; unhealthy: boolean }>();
    let synced: number | null = null;
    let back: number | null = null;
    await waitFor(`${node.name} Synced and back in HAProxy`, 180_000, async () => {
      const rows = await proxy.servers();
      const current = new Map<string, { stot: number; out: boolean; unhealthy: boolean }>();
      for (const other of others) {
        const verdict = (await env.checks[other.index]?.check())?.verdict;
        const row = rowFor(rows, other.ip);
        const unhealthy = verdict?.healthy === false;
        if (unhealthy) {
          unhealthySamples += 1;
          donorStates.set(other.name, verdict.wsrepLocalState ?? -1);
        }
        const sample = { stot: row?.stot ?? 0, out: isOut(row), unhealthy };
        const before = previous.get(other.name);
        if (before !== undefined && before.unhealthy && sample.unhealthy) {
          const delta = Math.max(0, sample.stot - before.stot);
          if (before.out && sample.out) newWhile503AndOut += delta;
          else newWhile503AndUp += delta;
        }
        current.set(other.name, sample);
      }
      previous = current;
      const now = performance.now() - t0;
      if (synced === null && (await env.cluster.localState(index)) === 4) synced = now;
      if (synced !== null && back === null && rowFor(rows, node.ip)?.status === 'UP') back = now;
      return back !== null ? true : undefined;
    }, 100);
    return { synced, back, donorStates, newWhile503AndUp, newWhile503AndOut, unhealthySamples };
  });
  return summarize(
    `restart ${node.name} (forced SST)`,
    load,
    faultAt,
    { 'joiner Synced': seconds(result.synced), 'joiner UP in HAProxy': seconds(result.back) },
    {
      donors: [...result.donorStates.entries()].map(([n, s]) => `${n}(state ${String(s)})`).join(' ') || 'none seen',
      'samples with a 503 node (x100 ms)': result.unhealthySamples,
      'new sessions to a 503 node before HAProxy took it out': result.newWhile503AndUp,
      'new sessions to a 503 node after HAProxy took it out': result.newWhile503AndOut,
    },
  );
}

/** SIGTERM one `register`: the watcher drains then removes the server; no new sessions reach it after. */
export async function scenarioDeregister(env: GaleraE2e, proxy: Proxy, index: number): Promise<ScenarioResult> {
  const node = env.cluster.nodes[index];
  const register = env.registers[index];
  if (node === undefined || register === null || register === undefined) throw new Error(`no register ${String(index)}`);
  let faultAt = 0;
  const { result, load } = await withLoad(proxy.listenPort, env, async () => {
    const t0 = performance.now();
    faultAt = Date.now();
    const exit = register.stop('SIGTERM');
    let drained: number | null = null;
    let removed: number | null = null;
    let stotAtDrain = 0;
    let lastStot = 0;
    await waitFor(`${node.name} drained and removed`, 15_000, async () => {
      const row = rowFor(await proxy.servers(), node.ip);
      const now = performance.now() - t0;
      if (drained === null && isOut(row)) {
        drained = now;
        stotAtDrain = row?.stot ?? lastStot;
      }
      if (row !== undefined) lastStot = row.stot;
      if (removed === null && row === undefined) removed = now;
      return removed !== null ? true : undefined;
    }, 20);
    const code = await exit;
    env.startRegister(index);
    await waitAllUp(env, proxy);
    return { drained, removed, afterDrain: Math.max(0, lastStot - stotAtDrain), code };
  });
  return summarize(
    `SIGTERM register ${node.name}`,
    load,
    faultAt,
    { 'out of rotation': seconds(result.drained), 'server removed': seconds(result.removed) },
    { 'register exit code': result.code ?? -1, 'new sessions after drain started': result.afterDrain },
  );
}

/** writer=single: every write lands on one node; killing it moves writes to exactly one other node. */
export async function scenarioSingleWriter(env: GaleraE2e, proxy: Proxy): Promise<ScenarioResult> {
  let killedAt = 0;
  let writer = '';
  const { result, load } = await withLoad(proxy.listenPort, env, async () => {
    const startRows = (await proxy.servers()).filter((r) => r.backend === 'galera');
    await sleep(3_000);
    const rows = (await proxy.servers()).filter((r) => r.backend === 'galera');
    // The writer is whichever server HAProxy gave the new sessions to, however the template picks it.
    const grew = rows
      .map((r) => ({ row: r, delta: r.stot - (startRows.find((b) => b.name === r.name)?.stot ?? 0) }))
      .filter((g) => g.delta > 0);
    const writerRow = grew[0]?.row;
    if (grew.length !== 1 || writerRow === undefined) throw new Error(`expected one server taking sessions, got ${JSON.stringify(grew)}`);
    const writerNode = env.cluster.nodes.find((n) => writerRow.addr.startsWith(`${n.ip}:`));
    if (writerNode === undefined) throw new Error(`writer ${writerRow.addr} is not a cluster node`);
    writer = writerNode.name;
    killedAt = Date.now();
    const t0 = performance.now();
    await env.cluster.kill(writerNode.index);
    const moved = await waitFor('writes to move to another node', 30_000, async () => {
      const next = (await proxy.servers()).find(
        (r) => r.backend === 'galera' && !r.addr.startsWith(`${writerNode.ip}:`) && r.status === 'UP' && r.stot > 0,
      );
      return next === undefined ? undefined : performance.now() - t0;
    }, 50);
    await sleep(3_000);
    return { moved };
  });
  const before = new Set(load.served.filter((s) => s.at < killedAt).map((s) => s.node));
  const after = new Set(load.served.filter((s) => s.at > killedAt).map((s) => s.node));
  after.delete(writer);
  // Writes wait (fail) from the kill until the etcd writer record has moved and the handover is over;
  // from the moment writes reach the new writer, none may fail.
  const movedAt = killedAt + (result.moved ?? Number.POSITIVE_INFINITY);
  return summarize('single writer, kill the writer', load, killedAt, { 'writes on a new node': seconds(result.moved) }, {
    'writers before kill': [...before].join(' '),
    'writers after kill': [...after].join(' '),
    'distinct writers before': before.size,
    'distinct writers after': after.size,
    'failed after writes moved': load.failedAt.filter((at) => at > movedAt).length,
  });
}

export function formatTable(results: readonly ScenarioResult[]): string {
  const lines = [
    '| scenario | connections tried | ticks skipped (late / at cap) | failed (connect / query) | failed > 1 s after the fault | seconds until HAProxy followed | other facts |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const followed = Object.entries(r.followed)
      .map(([k, v]) => `${k}: ${v === null ? 'n/a' : v.toFixed(2)}`)
      .join('; ');
    const facts = Object.entries(r.facts)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join('; ');
    lines.push(`| ${r.scenario} | ${String(r.tried)} | ${String(r.skipped.late)} / ${String(r.skipped.atCap)} | ${String(r.connectFailed)} / ${String(r.queryFailed)} | ${String(r.failedAfterFault)} | ${followed} | ${facts} |`);
  }
  return lines.join('\n');
}
