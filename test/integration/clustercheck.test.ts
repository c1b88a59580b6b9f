import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClustercheck, type RunningClustercheck } from '../../src/galera/clustercheck.js';
import { createLogger } from '../../src/observe/logger.js';
import { startGaleraCluster, type GaleraCluster } from '../helpers/galera-cluster.js';
import { queryOnce } from '../helpers/mysql-client.js';
import { httpGet, type HttpReply } from '../helpers/http-get.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const get = (port: number, options: { json?: boolean; method?: string } = {}): Promise<HttpReply> => httpGet(port, options);

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('clustercheck against a real MariaDB Galera node', () => {
  let cluster: GaleraCluster;
  let dir: TempDir;
  let logs = '';
  let check: RunningClustercheck;
  const children: ChildProcess[] = [];
  const sql = async (statement: string): Promise<void> => {
    const node = cluster.nodes[0];
    if (node === undefined) throw new Error('no node');
    await queryOnce({ socketPath: node.socket, user: 'root' }, statement);
  };
  const showStatusCount = async (): Promise<number> => {
    const node = cluster.nodes[0];
    if (node === undefined) throw new Error('no node');
    const rows = await queryOnce({ socketPath: node.socket, user: 'root' }, "SHOW GLOBAL STATUS LIKE 'Com_show_status'");
    return Number(rows[0]?.Value);
  };

  beforeAll(async () => {
    dir = await tempDir('clustercheck');
    // A one-node cluster on its own alias, away from the e2e cluster's 127.0.0.11-13 and the fake nodes of other suites.
    cluster = await startGaleraCluster({ size: 1, firstOctet: 201, clusterName: 'clustercheck-test', formTimeoutMs: 90_000 });
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    check = await startClustercheck(
      {
        listenHost: '127.0.0.1',
        listenPort: 0,
        mysql: { host: '127.0.0.201', port: 3306, user: cluster.appUser.user, password: cluster.appUser.password },
        policy: { availableWhenDonor: false, availableWhenReadonly: false },
        queryTimeoutMs: 1_000,
        cacheMs: 300,
      },
      { logger: createLogger({ level: 'debug', stream: logStream }) },
    );
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await check?.close();
    await cluster?.stop();
    await dir?.remove();
  });

  it('answers 200 with the Percona-style body for a Synced node, and JSON when asked', async () => {
    const plain = await get(check.port);
    expect(plain).toMatchObject({ status: 200, body: 'Galera cluster node is synced.\r\n', contentType: 'text/plain' });
    const json = await get(check.port, { json: true });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body)).toMatchObject({ healthy: true, state: 'Synced', wsrep_local_state: 4 });
    const options = await get(check.port, { method: 'OPTIONS' });
    expect(options.status).toBe(200);
  });

  it('shares one query among a burst of concurrent checks', async () => {
    await new Promise((r) => setTimeout(r, 400));
    const before = await showStatusCount();
    const replies = await Promise.all(Array.from({ length: 50 }, () => get(check.port)));
    const after = await showStatusCount();
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // One SHOW STATUS from the checker plus the one that reads the counter itself.
    expect(after - before).toBeLessThanOrEqual(2);
    console.log(`clustercheck: 50 concurrent checks cost ${String(after - before - 1)} status query`);
  });

  it('answers 503 while wsrep_reject_queries is not NONE (the case Percona misses)', async () => {
    await sql('SET GLOBAL wsrep_reject_queries = ALL');
    try {
      await until('503 for reject_queries', async () => (await get(check.port)).status === 503);
      const json = JSON.parse((await get(check.port, { json: true })).body) as { reason: string; message: string };
      expect(json.reason).toBe('reject_queries');
      expect(json.message).toContain('wsrep_reject_queries');
    } finally {
      await sql('SET GLOBAL wsrep_reject_queries = NONE');
    }
    await until('200 again', async () => (await get(check.port)).status === 200);
  });

  it('answers 503 for read_only=ON, and 503 while Donor/Desynced', async () => {
    await sql('SET GLOBAL read_only = ON');
    try {
      await until('503 for read_only', async () => (await get(check.port)).status === 503);
      expect((await get(check.port)).body).toBe('Galera cluster node is not synced.\r\n');
    } finally {
      await sql('SET GLOBAL read_only = OFF');
    }
    await sql('SET GLOBAL wsrep_desync = ON');
    try {
      await until('503 while desynced', async () => {
        const reply = await get(check.port, { json: true });
        return reply.status === 503 && (JSON.parse(reply.body) as { state: string }).state === 'Donor/Desynced';
      });
    } finally {
      await sql('SET GLOBAL wsrep_desync = OFF');
    }
    await until('200 again', async () => (await get(check.port)).status === 200);
  });

  it('the CLI honours --available-when-readonly but not for wsrep_desync, password from a file', async () => {
    const port = await freePort();
    const passwordFile = join(dir.path, 'password');
    await writeFile(passwordFile, `${cluster.appUser.password}\n`, { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [
        '--import', 'tsx', CLI, 'clustercheck', '--listen', `127.0.0.1:${String(port)}`,
        '--mysql-host', '127.0.0.201', '--mysql-user', cluster.appUser.user,
        '--mysql-password-file', passwordFile, '--available-when-donor', '--available-when-readonly',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MYSQL_PWD: 'wrong' } },
    );
    children.push(child);
    let output = '';
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until('CLI listening', async () => get(port).then(() => true, () => false), 20_000);
    expect((await get(port)).status, output).toBe(200);
    await sql('SET GLOBAL read_only = ON');
    try {
      await new Promise((r) => setTimeout(r, 500));
      const reply = await get(port, { json: true });
      expect(reply.status, reply.body).toBe(200);
      // wsrep_desync is an operator taking the node out by hand: no switch overrides it.
      await sql('SET GLOBAL wsrep_desync = ON');
      await until('503 desynced', async () => (await get(port)).status === 503);
      expect(JSON.parse((await get(port, { json: true })).body)).toMatchObject({ reason: 'desynced', state: 'Donor/Desynced' });
    } finally {
      await sql('SET GLOBAL wsrep_desync = OFF');
      await sql('SET GLOBAL read_only = OFF');
    }
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(output).not.toContain(cluster.appUser.password);
  });

  it('answers 503 within the query timeout while mysqld hangs, and when it is down', async () => {
    const pid = cluster.nodes[0]?.pid();
    if (pid === null || pid === undefined) throw new Error('mysqld is not running');
    await new Promise((r) => setTimeout(r, 400));
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const reply = await get(check.port, { json: true });
      const tookMs = Date.now() - started;
      expect(reply.status).toBe(503);
      expect(JSON.parse(reply.body)).toMatchObject({ healthy: false, state: 'Down' });
      // Bounded by the 1 s query timeout, not by the hung server.
      expect(tookMs).toBeLessThan(5_000);
      console.log(`clustercheck: 503 for a hung mysqld after ${String(tookMs)} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await until('200 after SIGCONT', async () => (await get(check.port)).status === 200, 20_000);
    await cluster.kill(0);
    await until('503 when down', async () => (await get(check.port)).status === 503);
    expect(logs).not.toContain(cluster.appUser.password);
    expect(logs).toContain('node health changed');
  });
});
