import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliDaemon, type CliDaemon } from '../helpers/cli.js';
import { startGaleraCluster, type GaleraCluster, type GaleraNodeHandle } from '../helpers/galera-cluster.js';
import { httpGet } from '../helpers/http-get.js';
import { queryOnce } from '../helpers/mysql-client.js';
import { tempDir, type TempDir } from '../helpers/ports.js';
import { startOrphanReaper, type OrphanReaper } from './orphan-reaper.js';

// Nodes on 127.0.0.31-33, each cause of a 503 produced for real on node1 and read back from the
// running `galera-haproxy clustercheck`. One cluster for the whole file: the tests run in order and
// each leaves node1 Synced and healthy for the next, except the last, which kills the other two.
const FIRST_OCTET = 31;
const MAX_RECV_QUEUE = 50;
const RISE = 3;
const PLAIN_PORT = 9200;
/** A second clustercheck on node1 with --available-when-donor. */
const DONOR_OK_PORT = 9201;

interface Answer {
  readonly status: number;
  readonly healthy: boolean;
  readonly reason: string;
  readonly message: string;
  readonly state: string;
  readonly wsrep_local_state: number | null;
  readonly wsrep_cluster_status: string | null;
  readonly wsrep_local_recv_queue: number | null;
  readonly checked_at: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('clustercheck on a real MariaDB Galera cluster: every cause of a 503, with its reason', () => {
  let dir: TempDir;
  let reaper: OrphanReaper;
  let cluster: GaleraCluster;
  let node1: GaleraNodeHandle;
  let maintenanceFile: string;
  const checks: CliDaemon[] = [];
  const startedAt = Date.now();

  const node = (index: number): GaleraNodeHandle => {
    const found = cluster.nodes[index];
    if (found === undefined) throw new Error(`no node ${String(index)}`);
    return found;
  };
  const sql = (index: number, statement: string): Promise<unknown> =>
    queryOnce({ socketPath: node(index).socket, user: 'root' }, statement);

  const ask = async (port = PLAIN_PORT): Promise<Answer> => {
    const reply = await httpGet(port, { host: node1.ip, json: true });
    return { status: reply.status, ...(JSON.parse(reply.body) as Omit<Answer, 'status'>) };
  };
  /** Asks until the answer carries `reason`; fails naming the last answer seen. */
  const askUntil = async (reason: string, port = PLAIN_PORT, timeoutMs = 30_000): Promise<Answer> => {
    const deadline = Date.now() + timeoutMs;
    let last: Answer | null = null;
    while (Date.now() < deadline) {
      last = await ask(port);
      if (last.reason === reason) return last;
      await sleep(50);
    }
    throw new Error(`no answer with reason ${reason} within ${String(timeoutMs)} ms; last: ${JSON.stringify(last)}`);
  };
  const metricsText = async (port = PLAIN_PORT): Promise<string> =>
    (await httpGet(port, { host: node1.ip, path: '/metrics' })).body;

  const startCheck = (port: number, extra: readonly string[]): CliDaemon => {
    const daemon = startCliDaemon([
      'clustercheck', '--listen', `${node1.ip}:${String(port)}`, '--mysql-socket', node1.socket, '--mysql-user', 'root',
      '--maintenance-file', maintenanceFile, '--max-recv-queue', String(MAX_RECV_QUEUE), '--rise', String(RISE),
      '--cache-ms', '100ms', ...extra,
    ]);
    reaper.track(daemon.child.pid);
    checks.push(daemon);
    return daemon;
  };

  beforeAll(async () => {
    dir = await tempDir('clustercheck-causes');
    reaper = startOrphanReaper(dir.path);
    maintenanceFile = join(dir.path, 'clustercheck.disabled');
    cluster = await startGaleraCluster({
      size: 3,
      firstOctet: FIRST_OCTET,
      clusterName: 'clustercheck-causes',
      onSpawn: (pid) => reaper.track(pid),
    });
    node1 = node(0);
    await queryOnce(
      { socketPath: node1.socket, user: 'root' },
      'CREATE DATABASE IF NOT EXISTS e2e; CREATE TABLE IF NOT EXISTS e2e.writes (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)',
      { multipleStatements: true },
    );
    for (const [port, extra] of [[PLAIN_PORT, []], [DONOR_OK_PORT, ['--available-when-donor']]] as const) {
      const daemon = startCheck(port, extra);
      await daemon.waitForLog((e) => e.msg === 'clustercheck listening', 20_000);
    }
    console.log(`clustercheck-causes: cluster of 3 and two clustercheck processes up in ${String(Date.now() - startedAt)} ms`);
  });

  afterAll(async () => {
    for (const daemon of checks) await daemon.stop('SIGTERM', 5_000);
    await cluster?.stop();
    await reaper?.stop();
    await dir?.remove();
    console.log(`clustercheck-causes: whole file ${String(Date.now() - startedAt)} ms`);
  });

  it('a Synced node answers 200 synced, with the queue in the body and the reason on /metrics', async () => {
    const answer = await askUntil('synced');
    expect(answer).toMatchObject({ status: 200, healthy: true, state: 'Synced', wsrep_cluster_status: 'Primary', wsrep_local_recv_queue: 0 });
    const metrics = await metricsText();
    expect(metrics).toContain('galera_haproxy_clustercheck_state{reason="synced"} 1');
    expect(metrics).toContain('galera_haproxy_clustercheck_state{reason="desynced"} 0');
    expect(metrics).toMatch(/galera_haproxy_clustercheck_answers_total\{status="200",reason="synced"\} [1-9]/);
  });

  // One case per SQL switch: set it on node1, read the 503 and its reason, put it back, read 200.
  it.each([
    ['wsrep_desync=ON', 'SET GLOBAL wsrep_desync = ON', 'SET GLOBAL wsrep_desync = OFF', 'desynced'],
    ['read_only=ON', 'SET GLOBAL read_only = ON', 'SET GLOBAL read_only = OFF', 'read_only'],
    ['wsrep_reject_queries=ALL', 'SET GLOBAL wsrep_reject_queries = ALL', 'SET GLOBAL wsrep_reject_queries = NONE', 'reject_queries'],
  ])('%s: 503 with its reason, 200 once it is undone', async (_, on, off, reason) => {
    await sql(0, on);
    try {
      const answer = await askUntil(reason);
      expect(answer).toMatchObject({ status: 503, healthy: false, reason });
      expect(await metricsText()).toContain(`galera_haproxy_clustercheck_state{reason="${reason}"} 1`);
      expect(await metricsText()).toMatch(new RegExp(`answers_total\\{status="503",reason="${reason}"\\} [1-9]`));
    } finally {
      await sql(0, off);
    }
    expect(await askUntil('synced')).toMatchObject({ status: 200 });
  });

  it('the maintenance file: 503 maintenance while it exists, 200 once it is removed', async () => {
    await writeFile(maintenanceFile, '');
    try {
      expect(await askUntil('maintenance')).toMatchObject({ status: 503, state: 'Synced' });
      expect(await askUntil('maintenance', DONOR_OK_PORT)).toMatchObject({ status: 503 });
    } finally {
      await rm(maintenanceFile, { force: true });
    }
    expect(await askUntil('synced')).toMatchObject({ status: 200 });
  });

  it('a held-up applier: 503 recv_queue above --max-recv-queue, back to 200 only after --rise reads below half', async () => {
    // FLUSH TABLES WITH READ LOCK pauses node1's applier (and desyncs it, so no flow control stops
    // the writer) while node2 keeps committing: the write-sets wait in node1's receive queue.
    const lock = await mysql.createConnection({ socketPath: node1.socket, user: 'root' });
    const writer = await mysql.createConnection({ socketPath: node(1).socket, user: 'root' });
    let unlocked = false;
    try {
      await lock.query('FLUSH TABLES WITH READ LOCK');
      let written = 0;
      let lagging: Answer | null = null;
      while (lagging === null && written < 5_000) {
        for (let i = 0; i < 20; i += 1) await writer.query('INSERT INTO e2e.writes (v) VALUES (?)', [`w${String(written++)}`]);
        const answer = await ask();
        if (answer.reason === 'recv_queue') lagging = answer;
      }
      expect(lagging, `no recv_queue answer after ${String(written)} writes`).not.toBeNull();
      expect(lagging).toMatchObject({ status: 503 });
      expect(lagging?.wsrep_local_recv_queue).toBeGreaterThan(MAX_RECV_QUEUE);
      // Every read from now on is ours alone (nothing else asks this port), so each answer with a new
      // checked_at is one step of the hysteresis.
      await lock.query('UNLOCK TABLES');
      unlocked = true;
      const reads: Answer[] = [];
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && reads.at(-1)?.reason !== 'synced') {
        const answer = await ask();
        if (answer.checked_at !== reads.at(-1)?.checked_at) reads.push(answer);
        await sleep(20);
      }
      const trail = JSON.stringify(reads.map((r) => [r.status, r.reason, r.state, r.wsrep_local_recv_queue]));
      const firstOut = reads.findIndex((r) => r.reason !== 'recv_queue');
      expect(firstOut, trail).toBeGreaterThanOrEqual(RISE - 1);
      // The RISE - 1 reads before the node came out were below half the limit and still 503.
      const held = reads.slice(firstOut - (RISE - 1), firstOut);
      expect(held.map((r) => [r.status, r.reason]), trail).toEqual(Array.from({ length: RISE - 1 }, () => [503, 'recv_queue']));
      for (const r of [...held, reads[firstOut]]) expect(r?.wsrep_local_recv_queue, trail).toBeLessThan(MAX_RECV_QUEUE / 2);
      held.forEach((r, i) => expect(r.message, trail).toContain(`for ${String(i + 1)} of ${String(RISE)} reads`));
      expect(reads.at(-1), trail).toMatchObject({ status: 200, reason: 'synced' });
      console.log(`clustercheck-causes: recv queue reached ${String(lagging?.wsrep_local_recv_queue)} after ${String(written)} writes; reads after UNLOCK: ${trail}`);
    } finally {
      if (!unlocked) await lock.query('UNLOCK TABLES').catch(() => undefined);
      lock.destroy();
      writer.destroy();
    }
  });

  it('donor during a mariabackup SST: 503 donor, 200 donor_allowed with --available-when-donor', async () => {
    const seen = await sstFromNode1(() => firstDonorAnswers([PLAIN_PORT, DONOR_OK_PORT]));
    expect(seen[0]).toMatchObject({ status: 503, reason: 'donor', wsrep_local_state: 2 });
    expect(seen[1]).toMatchObject({ status: 200, reason: 'donor_allowed', wsrep_local_state: 2 });
  });

  it('a donor with wsrep_sst_donor_rejects_queries=ON: 503 donor_rejects_queries, even with --available-when-donor', async () => {
    await sql(0, 'SET GLOBAL wsrep_sst_donor_rejects_queries = ON');
    try {
      const seen = await sstFromNode1(() => firstDonorAnswers([PLAIN_PORT, DONOR_OK_PORT]));
      for (const answer of seen) expect(answer).toMatchObject({ status: 503, reason: 'donor_rejects_queries', wsrep_local_state: 2 });
    } finally {
      await sql(0, 'SET GLOBAL wsrep_sst_donor_rejects_queries = OFF');
    }
  });

  it('kill -9 both peers: node1 is left in a non-Primary component, 503 non_primary', async () => {
    await Promise.all([cluster.kill(1), cluster.kill(2)]);
    const answer = await askUntil('non_primary', PLAIN_PORT, 60_000);
    expect(answer).toMatchObject({ status: 503, healthy: false, wsrep_cluster_status: 'non-Primary' });
    expect(await askUntil('non_primary', DONOR_OK_PORT)).toMatchObject({ status: 503 });
  });

  /** Polls every port until each has answered once with node1 in state 2 (Donor/Desynced). */
  async function firstDonorAnswers(ports: readonly number[]): Promise<Answer[]> {
    const seen = new Map<number, Answer>();
    const deadline = Date.now() + 120_000;
    while (seen.size < ports.length) {
      if (Date.now() > deadline) throw new Error(`node1 was never seen as a donor on ports ${ports.filter((p) => !seen.has(p)).join(', ')}`);
      for (const port of ports) {
        const answer = await ask(port);
        if (answer.wsrep_local_state === 2 && !seen.has(port)) seen.set(port, answer);
      }
      await sleep(20);
    }
    return ports.map((port) => seen.get(port) as Answer);
  }

  /**
   * Restarts node3 with its grastate.dat removed and node1 named as its donor, runs `during` while
   * the SST runs, then waits until node3 is Synced and node1 answers 200 again.
   */
  async function sstFromNode1<T>(during: () => Promise<T>): Promise<T> {
    const joiner = node(2);
    await cluster.kill(2);
    await rm(join(joiner.dir, 'data', 'grastate.dat'), { force: true });
    const cnf = join(joiner.dir, 'my.cnf');
    const text = await readFile(cnf, 'utf8');
    if (!text.includes('wsrep_sst_donor=')) {
      if (!text.includes('\n[sst]')) throw new Error(`${cnf} has no [sst] section to put wsrep_sst_donor before`);
      await writeFile(cnf, text.replace('\n[sst]', `\nwsrep_sst_donor=${node1.name}\n\n[sst]`));
    }
    await cluster.start(2, { waitSynced: false });
    const result = await during();
    await cluster.waitSynced(2);
    await askUntil('synced', PLAIN_PORT, 60_000);
    return result;
  }
});
