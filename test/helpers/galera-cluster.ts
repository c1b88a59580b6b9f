import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir, type TempDir } from './ports.js';
import { queryOnce } from './mysql-client.js';

const INSTALL_HINT =
  'a MariaDB Galera cluster needs: apt-get install mariadb-server galera-4 mariadb-backup socat ' +
  '(and `systemctl disable --now mariadb` so the packaged server does not hold /run/mysqld)';
const PROVIDER = '/usr/lib/galera/libgalera_smm.so';

export interface GaleraNodeHandle {
  readonly index: number;
  readonly name: string;
  /** Loopback alias the node binds every port on (3306, 4567, 4568, 4444). */
  readonly ip: string;
  readonly port: number;
  readonly socket: string;
  readonly dir: string;
  readonly errorLog: string;
  /** Pid of the running mariadbd, or null while it is down. */
  pid(): number | null;
}

export interface GaleraCluster {
  readonly nodes: readonly GaleraNodeHandle[];
  /** TCP user that clients (and HAProxy) use; has all privileges on every database. */
  readonly appUser: { readonly user: string; readonly password: string };
  /** kill -9: no clean leave, so the others see a partition and evict the node. */
  kill(index: number): Promise<void>;
  /** Starts a killed node again; it rejoins through IST or SST. Resolves when it is Synced. */
  start(index: number, options?: { waitSynced?: boolean }): Promise<void>;
  waitSynced(index: number, timeoutMs?: number): Promise<void>;
  /** `wsrep_local_state` of a node via its socket, null when it does not answer. */
  localState(index: number): Promise<number | null>;
  stop(): Promise<void>;
}

export interface StartGaleraOptions {
  /** @default 3 */
  readonly size?: number;
  /** First alias is `127.0.0.<firstOctet>`. @default 11 */
  readonly firstOctet?: number;
  /** @default 180000 */
  readonly formTimeoutMs?: number;
  readonly clusterName?: string;
  /** Told the pid of every mariadbd started, so a caller can kill them if it dies before `stop()`. */
  readonly onSpawn?: (pid: number) => void;
}

function requireBinaries(): void {
  const missing: string[] = [];
  for (const bin of ['mariadbd', 'mariadb-install-db', 'mariabackup', 'socat']) {
    const found = spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { encoding: 'utf8' });
    if (found.status !== 0) missing.push(bin);
  }
  if (!existsSync(PROVIDER)) missing.push(PROVIDER);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: ${INSTALL_HINT}`);
}

/** Rejects when something already listens on ip:port (a stale node, or another suite's fake). */
function requireFreePort(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err) =>
      reject(new Error(`${ip}:${String(port)} is taken (${err.message}): stop whatever listens there or pick another firstOctet`)),
    );
    server.listen({ host: ip, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

function mariadbdBin(): string {
  const found = spawnSync('sh', ['-c', 'command -v mariadbd'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : '/usr/sbin/mariadbd';
}

function nodeConfig(node: GaleraNodeHandle, all: readonly GaleraNodeHandle[], clusterName: string): string {
  const members = all.map((n) => `${n.ip}:4567`).join(',');
  return [
    '[mysqld]',
    'user=root',
    `datadir=${join(node.dir, 'data')}`,
    `socket=${node.socket}`,
    `pid-file=${join(node.dir, 'mariadbd.pid')}`,
    `log-error=${node.errorLog}`,
    `tmpdir=${join(node.dir, 'tmp')}`,
    `bind-address=${node.ip}`,
    `port=${String(node.port)}`,
    'skip-name-resolve',
    'max_connections=500',
    // Small buffers: three servers and the test harness share a 2-core CI box.
    'innodb_buffer_pool_size=64M',
    'innodb_log_file_size=32M',
    'performance_schema=OFF',
    'binlog_format=ROW',
    'default_storage_engine=InnoDB',
    'innodb_autoinc_lock_mode=2',
    'innodb_flush_log_at_trx_commit=0',
    'wsrep_on=ON',
    `wsrep_provider=${PROVIDER}`,
    `wsrep_cluster_name=${clusterName}`,
    `wsrep_cluster_address=gcomm://${members}`,
    `wsrep_node_name=${node.name}`,
    `wsrep_node_address=${node.ip}`,
    `wsrep_sst_receive_address=${node.ip}:4444`,
    // Every port on the node's own alias, so three nodes can use the standard port numbers.
    `wsrep_provider_options="gmcast.listen_addr=tcp://${node.ip}:4567;ist.recv_addr=${node.ip}:4568;gcache.size=64M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S"`,
    // rsync SST refuses to run as root; mariabackup over socat works, authenticated by unix_socket.
    'wsrep_sst_method=mariabackup',
    'wsrep_sst_auth=root:',
    '',
    '[sst]',
    `sockopt=",bind=${node.ip}"`,
    '',
  ].join('\n');
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, context: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${why}\n${context()}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

async function statusValue(socket: string, name: string): Promise<string | null> {
  const rows = await queryOnce({ socketPath: socket, user: 'root' }, `SHOW GLOBAL STATUS LIKE '${name}'`);
  const row = rows[0];
  return row === undefined ? null : String(row.Value);
}

/**
 * A real MariaDB Galera cluster on loopback aliases 127.0.0.11.., each node in its own temp datadir,
 * running as root. The first node bootstraps with --wsrep-new-cluster; the others join by SST.
 */
export async function startGaleraCluster(options: StartGaleraOptions = {}): Promise<GaleraCluster> {
  requireBinaries();
  const size = options.size ?? 3;
  const firstOctet = options.firstOctet ?? 11;
  const clusterName = options.clusterName ?? 'galera-haproxy-test';
  const root: TempDir = await tempDir('galera-cluster');
  const bin = mariadbdBin();
  const children = new Map<number, ChildProcess>();
  const nodes: GaleraNodeHandle[] = [];
  for (let i = 0; i < size; i += 1) {
    const dir = join(root.path, `node${String(i + 1)}`);
    nodes.push({
      index: i,
      name: `node${String(i + 1)}`,
      ip: `127.0.0.${String(firstOctet + i)}`,
      port: 3306,
      socket: join(dir, 'mariadbd.sock'),
      dir,
      errorLog: join(dir, 'error.log'),
      pid: () => children.get(i)?.pid ?? null,
    });
  }
  const node = (index: number): GaleraNodeHandle => {
    const found = nodes[index];
    if (found === undefined) throw new Error(`no Galera node ${String(index)}`);
    return found;
  };

  try {
    for (const n of nodes) for (const port of [n.port, 4567, 4568, 4444]) await requireFreePort(n.ip, port);
  } catch (err) {
    await root.remove();
    throw err;
  }
  for (const n of nodes) {
    await mkdir(join(n.dir, 'data'), { recursive: true });
    await mkdir(join(n.dir, 'tmp'), { recursive: true });
    await writeFile(join(n.dir, 'my.cnf'), nodeConfig(n, nodes, clusterName));
  }
  // Only the bootstrap node needs system tables; joiners get everything by SST.
  const first = node(0);
  const install = spawnSync(
    'mariadb-install-db',
    [`--defaults-file=${join(first.dir, 'my.cnf')}`, '--user=root', '--auth-root-authentication-method=socket', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) {
    await root.remove();
    throw new Error(`mariadb-install-db failed (${INSTALL_HINT}): ${install.stderr}${install.stdout}`);
  }

  const launch = (index: number, bootstrap: boolean): void => {
    const n = node(index);
    const log = openSync(join(n.dir, 'stdout.log'), 'a');
    const args = [`--defaults-file=${join(n.dir, 'my.cnf')}`, ...(bootstrap ? ['--wsrep-new-cluster'] : [])];
    const child = spawn(bin, args, { stdio: ['ignore', log, log], detached: false });
    closeSync(log);
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.on('exit', () => {
      if (children.get(index) === child) children.delete(index);
    });
    children.set(index, child);
  };

  const localState = async (index: number): Promise<number | null> => {
    try {
      const value = await statusValue(node(index).socket, 'wsrep_local_state');
      return value === null ? null : Number(value);
    } catch {
      return null;
    }
  };

  const waitSynced = async (index: number, timeoutMs = 180_000): Promise<void> => {
    const n = node(index);
    await waitFor(
      `${n.name} (${n.ip}) to be Synced`,
      timeoutMs,
      async () => {
        if (!children.has(index)) throw new Error(`${n.name} mariadbd exited`);
        return (await localState(index)) === 4 ? true : null;
      },
      () => `--- ${n.errorLog}\n${tail(n.errorLog)}`,
    );
  };

  const killNode = async (index: number): Promise<void> => {
    const child = children.get(index);
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };

  const stop = async (): Promise<void> => {
    // SIGKILL everything: a clean shutdown of the last node takes seconds and proves nothing here.
    await Promise.all(nodes.map((n) => killNode(n.index)));
    await root.remove();
  };

  try {
    launch(0, true);
    await waitSynced(0, options.formTimeoutMs ?? 180_000);
    await queryOnce(
      { socketPath: first.socket, user: 'root' },
      "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-secret'; GRANT ALL ON *.* TO 'app'@'%'",
      { multipleStatements: true },
    );
    // Joiners one at a time: two SSTs from one donor at once would only slow both down.
    for (let i = 1; i < size; i += 1) {
      launch(i, false);
      await waitSynced(i, options.formTimeoutMs ?? 180_000);
    }
    await waitFor(
      `wsrep_cluster_size = ${String(size)}`,
      30_000,
      async () => ((await statusValue(first.socket, 'wsrep_cluster_size')) === String(size) ? true : null),
      () => nodes.map((n) => `--- ${n.errorLog}\n${tail(n.errorLog, 15)}`).join('\n'),
    );
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes,
    appUser: { user: 'app', password: 'app-secret' },
    kill: killNode,
    start: async (index, startOptions) => {
      if (children.has(index)) return;
      launch(index, false);
      if (startOptions?.waitSynced !== false) await waitSynced(index);
    },
    waitSynced,
    localState,
    stop,
  };
}
