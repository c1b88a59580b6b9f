import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { runClientLoad, type ClientLoadStats } from './client-load.js';
import { sleep, startGaleraE2e, waitFor, type GaleraE2e, type Proxy } from './galera-harness.js';
import { concurrentWriters, failuresByError, writerSegments, type WriteRecord } from './write-ledger.js';

// Several proxies in front of one cluster, as the seed ran its HAProxy on every host: three HAProxys,
// each with its own watcher (proxy ids proxy-0..2), all in single-writer mode on one real 3-node
// MariaDB Galera cluster (127.0.0.11-13). Clients write through all three at once and record which
// node committed every write (`@@wsrep_node_name`); the properties below are read off that ledger,
// never off a daemon's view.

const PROXIES = 3;
/** New connections per second through each proxy. */
const RATE_PER_PROXY = 20;

interface Phase {
  readonly name: string;
  readonly from: number;
  to: number;
  readonly facts: Record<string, string | number>;
}

describe('three proxies, one writer: every HAProxy follows the etcd writer record', () => {
  let env: GaleraE2e;
  const proxies: Proxy[] = [];
  const records: WriteRecord[] = [];
  const phases: Phase[] = [];

  /** The server every proxy sends writes to (UP with a weight), or null when they differ or none does. */
  const agreedWriter = async (): Promise<string | null> => {
    const seen = new Set<string>();
    for (const p of proxies) {
      const rows = (await p.servers()).filter((r) => r.backend === 'galera' && r.status.startsWith('UP') && r.weight > 0);
      if (rows.length !== 1) return null;
      seen.add(rows[0]!.addr);
    }
    return seen.size === 1 ? [...seen][0]! : null;
  };
  const nodeAt = (addr: string): (typeof env.cluster.nodes)[number] => {
    const node = env.cluster.nodes.find((n) => addr.startsWith(`${n.ip}:`));
    if (node === undefined) throw new Error(`${addr} is not a cluster node`);
    return node;
  };
  const writerRecord = async (): Promise<{ node?: unknown; reason?: unknown } | null> => {
    const value = await env.client.get(`${env.prefix}/_writer`).string();
    return value === null ? null : (JSON.parse(value) as { node?: unknown; reason?: unknown });
  };
  const writerRecordNode = async (): Promise<string | null> => {
    const record = await writerRecord();
    return record === null ? null : String(record.node);
  };
  const phase = (name: string, facts: Record<string, string | number> = {}): Phase => {
    const now = Date.now();
    const last = phases.at(-1);
    if (last !== undefined) last.to = now;
    const p = { name, from: now, to: Number.POSITIVE_INFINITY, facts };
    phases.push(p);
    return p;
  };

  beforeAll(async () => {
    env = await startGaleraE2e();
    for (let i = 0; i < PROXIES; i++) {
      proxies.push(await env.startProxy({ writer: 'single', watchArgs: ['--proxy-id', `proxy-${String(i)}`] }));
    }
    await waitFor('every proxy writing to one node', 60_000, async () => ((await agreedWriter()) === null ? undefined : true), 200);
  });

  afterAll(async () => {
    if (phases.length > 0) {
      const lines = [
        '| phase | writes tried | committed | failed (when, s after the phase began) | committing nodes | facts |',
        '|---|---|---|---|---|---|',
        ...phases.map((p) => {
          const inPhase = records.filter((r) => r.startedAt >= p.from && r.startedAt < p.to);
          const nodes = [...new Set(inPhase.filter((r) => r.node !== null).map((r) => r.node))].join(' ');
          const facts = Object.entries(p.facts).map(([k, v]) => `${k}: ${String(v)}`).join('; ');
          const failed = inPhase.filter((r) => r.node === null).map((r) => (r.startedAt - p.from) / 1000);
          const when = failed.length === 0 ? '' : ` (${Math.min(...failed).toFixed(1)}–${Math.max(...failed).toFixed(1)})`;
          return `| ${p.name} | ${String(inPhase.length)} | ${String(inPhase.filter((r) => r.node !== null).length)} | ${String(failed.length)}${when} | ${nodes} | ${facts} |`;
        }),
      ];
      console.log(`\n${lines.join('\n')}\n${JSON.stringify({ e2e: 'galera-fleet', phases, failures: failuresByError(records) })}`);
    }
    await env?.stop();
  });

  it('kill -9 the writer, its return, a watcher restart, a proxy restart, a switchover and a drain of the writer: never two nodes taking writes', async () => {
    const abort = new AbortController();
    const loads: Promise<ClientLoadStats>[] = proxies.map((p, i) =>
      runClientLoad({
        host: '127.0.0.1',
        port: p.listenPort,
        user: env.cluster.appUser.user,
        password: env.cluster.appUser.password,
        ratePerSecond: RATE_PER_PROXY,
        signal: abort.signal,
        maxDurationMs: 300_000,
        timeoutMs: 10_000,
        ledger: { proxy: i, records },
      }),
    );
    let first = '';
    let second = '';
    let target = '';
    let last = '';
    try {
      phase('steady');
      await sleep(3_000);
      first = nodeAt((await agreedWriter()) ?? '?').name;

      // kill -9 the writer: detect (HAProxy's check) -> record moved (etcd) -> every proxy on the new one.
      const victim = env.cluster.nodes.find((n) => n.name === first)!;
      const kill = phase('kill -9 the writer', { writer: first });
      await env.cluster.kill(victim.index);
      const t0 = performance.now();
      const recordMoved = await waitFor('the writer record to move', 30_000, async () => {
        const node = await writerRecordNode();
        return node !== null && node !== first && node !== victim.name ? performance.now() - t0 : undefined;
      }, 20);
      const allFollowed = await waitFor('every proxy on one new writer', 30_000, async () => {
        const addr = await agreedWriter();
        return addr !== null && nodeAt(addr).name !== first ? performance.now() - t0 : undefined;
      }, 20);
      second = nodeAt((await agreedWriter())!).name;
      Object.assign(kill.facts, { 'record moved (ms)': Math.round(recordMoved), 'all proxies on the new writer (ms)': Math.round(allFollowed), 'new writer': second });
      const movedAt = Date.now();
      await sleep(3_000);
      kill.facts['failed after all proxies moved'] = records.filter((r) => r.node === null && r.startedAt > movedAt && r.startedAt < Date.now()).length;

      // Its return: it rejoins (SST or IST), turns UP in every proxy, and stays a reader.
      const back = phase('the old writer returns', { node: first });
      await env.cluster.start(victim.index, { waitSynced: true });
      await waitFor('the returned node UP in every proxy', 120_000, async () => {
        for (const p of proxies) {
          const row = (await p.servers()).find((r) => r.backend === 'galera' && r.addr.startsWith(`${victim.ip}:`));
          if (row?.status !== 'UP') return undefined;
        }
        return true;
      }, 200);
      await sleep(3_000);
      back.facts['writer after its return'] = nodeAt((await agreedWriter()) ?? '?').name;
      // The joiner's SST donor may be the writer: its clustercheck then says 503 (donor) and the record
      // moves on, to any node but the one that came back only if that one is not UP yet.
      back.facts['writer record reason'] = String((await writerRecord())?.reason);

      phase('watcher restart (proxy-1)');
      await proxies[1]!.restartWatcher();
      await sleep(3_000);

      const restart = phase('HAProxy restart (proxy-2)');
      const downFrom = Date.now();
      await proxies[2]!.restartHaproxy();
      await waitFor('proxy-2 writing again', 60_000, async () => ((await agreedWriter()) === null ? undefined : true), 200);
      const downTo = Date.now();
      await sleep(2_000);
      restart.facts['proxy-2 down (ms)'] = downTo - downFrom;
      restart.facts['failed through proxy-0/1'] = records.filter((r) => r.node === null && r.proxy !== 2 && r.startedAt >= restart.from).length;

      // A planned move under load to a reader that is UP everywhere.
      // To the first writer, back in the cluster as a reader: only an operator brings writes back to it.
      const current = nodeAt((await agreedWriter()) ?? '?').name;
      target = current === first ? env.cluster.nodes.find((n) => n.name !== current)!.name : first;
      // As an operator would: the target UP in every proxy first (a node back from SST may still be
      // applying what it received, and its clustercheck says so until it caught up).
      const targetIp = env.cluster.nodes.find((n) => n.name === target)!.ip;
      await waitFor('the switchover target UP in every proxy', 120_000, async () => {
        for (const p of proxies) {
          const row = (await p.servers()).find((r) => r.backend === 'galera' && r.addr.startsWith(`${targetIp}:`));
          if (row?.status !== 'UP') return undefined;
        }
        return true;
      }, 200);
      const move = phase('switchover', { to: target });
      const moved = await runCli([
        'switchover', '--etcd-endpoints', env.etcd.endpoint, '--prefix', env.prefix, '--set', 'writer=single',
        '--set', `stats_socket=${proxies[0]!.statsSocket}`, '--proxy-id', 'operator', '--to', target,
      ]);
      expect(moved.code, moved.stderr).toBe(0);
      const t1 = performance.now();
      const followed = await waitFor('every proxy on the switchover target', 30_000, async () => {
        const addr = await agreedWriter();
        return addr !== null && nodeAt(addr).name === target ? performance.now() - t1 : undefined;
      }, 20);
      move.facts['all proxies on the target after the command (ms)'] = Math.round(followed);
      const local = /writes to \S+ ([\d.]+) (m?s) after the record moved/.exec(moved.stdout);
      if (local !== null) move.facts['proxy-0 on the target after the record moved (ms)'] = Math.round(Number(local[1]) * (local[2] === 's' ? 1000 : 1));
      await sleep(3_000);
      move.facts['failed writes'] = records.filter((r) => r.node === null && r.startedAt >= move.from && r.startedAt < Date.now()).length;

      // The writer is drained by hand (as `register` does on SIGTERM): the record leaves it first.
      const drain = phase('drain the writer', { node: target });
      const t2 = performance.now();
      const drained = await runCli(['drain', '--etcd-endpoints', env.etcd.endpoint, '--prefix', env.prefix, target]);
      expect(drained.code, drained.stderr).toBe(0);
      const drainFollowed = await waitFor('every proxy on a writer other than the drained one', 30_000, async () => {
        const addr = await agreedWriter();
        return addr !== null && nodeAt(addr).name !== target ? performance.now() - t2 : undefined;
      }, 20);
      last = nodeAt((await agreedWriter())!).name;
      Object.assign(drain.facts, { 'all proxies on the next writer (ms)': Math.round(drainFollowed), 'next writer': last });
      await sleep(3_000);
      drain.facts['failed writes'] = records.filter((r) => r.node === null && r.startedAt >= drain.from && r.startedAt < Date.now()).length;
      const undrained = await runCli(['undrain', '--etcd-endpoints', env.etcd.endpoint, '--prefix', env.prefix, target]);
      expect(undrained.code, undrained.stderr).toBe(0);
      await sleep(2_000);
      phase('end');
    } finally {
      abort.abort();
      await Promise.all(loads);
    }

    const overlap = concurrentWriters(records);
    const segments = writerSegments(records);
    phases.at(-1)!.facts['writer segments'] = segments.map((s) => `${s.node}×${String(s.writes)}`).join(' → ');
    // The property: at no moment did two nodes take writes, through whichever proxies.
    expect(overlap.pairs, overlap.examples.join('\n')).toBe(0);
    // One run of writes per writer, in the order the record moved. The first writer took writes again only
    // through the switchover near the end (the target is chosen among the other nodes than the writer
    // then) or the drain after it, never on its return: sticky.
    const order = segments.map((s) => s.node);
    expect(order.slice(0, 2)).toEqual([first, second]);
    expect(order.slice(-2)).toEqual([target, last]);
    expect(order.slice(1, -2)).not.toContain(first);
    // Writes through proxy-0 and proxy-1 never failed while proxy-2 restarted.
    expect(phases.find((p) => p.name.startsWith('HAProxy restart'))!.facts['failed through proxy-0/1']).toBe(0);
    // Once every proxy was on the new writer, no write failed.
    expect(phases.find((p) => p.name === 'kill -9 the writer')!.facts['failed after all proxies moved']).toBe(0);
    // A planned move fails no write: new clients wait in HAProxy through the handover. Nor does a drain.
    expect(phases.find((p) => p.name === 'switchover')!.facts['failed writes']).toBe(0);
    expect(phases.find((p) => p.name === 'drain the writer')!.facts['failed writes']).toBe(0);
  });
});
