import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { GaleraHaproxyError, describeError } from '../errors.js';
import type { NodeStatus, WsrepSnapshot } from './node-health.js';

export interface MysqlTarget {
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number;
  readonly user: string;
  /** From the environment or a file only: never a flag, never logged. */
  readonly password?: string;
}

export interface StatusReader {
  read(): Promise<NodeStatus>;
  close(): Promise<void>;
}

const STATUS_NAMES = [
  'wsrep_local_state',
  'wsrep_ready',
  'wsrep_cluster_status',
  'wsrep_cluster_size',
  'wsrep_local_recv_queue',
] as const;
// `pxc_maint_mode` exists on Percona XtraDB Cluster only: a WHERE list (not `@@pxc_maint_mode`) leaves
// it out on MariaDB instead of failing the whole read.
const VARIABLE_NAMES = [
  'read_only',
  'wsrep_reject_queries',
  'wsrep_desync',
  'wsrep_sst_donor_rejects_queries',
  'pxc_maint_mode',
] as const;
const quoted = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');
// Both statements in one round trip; SHOW … WHERE reads the same on MariaDB and MySQL 5.7/8.0.
const STATUS_SQL =
  `SHOW GLOBAL STATUS WHERE Variable_name IN (${quoted(STATUS_NAMES)}); ` +
  `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${quoted(VARIABLE_NAMES)})`;

function toMap(rows: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(rows)) return map;
  for (const row of rows as RowDataPacket[]) {
    const name: unknown = row.Variable_name;
    const value: unknown = row.Value;
    if (typeof name === 'string') map.set(name.toLowerCase(), value === null || value === undefined ? '' : String(value));
  }
  return map;
}

const numberOrNull = (text: string | undefined): number | null =>
  text === undefined || text.trim() === '' || !Number.isFinite(Number(text)) ? null : Number(text);

/** The two result sets of STATUS_SQL, as the snapshot the decision reads. */
export function toSnapshot(statusRows: unknown, variableRows: unknown): WsrepSnapshot {
  const s = toMap(statusRows);
  const v = toMap(variableRows);
  return {
    wsrepLocalState: numberOrNull(s.get('wsrep_local_state')),
    wsrepReady: s.get('wsrep_ready') ?? null,
    wsrepClusterStatus: s.get('wsrep_cluster_status') ?? null,
    wsrepClusterSize: numberOrNull(s.get('wsrep_cluster_size')),
    wsrepLocalRecvQueue: numberOrNull(s.get('wsrep_local_recv_queue')),
    readOnly: v.get('read_only') ?? null,
    wsrepRejectQueries: v.get('wsrep_reject_queries') ?? null,
    wsrepDesync: v.get('wsrep_desync') ?? null,
    wsrepSstDonorRejectsQueries: v.get('wsrep_sst_donor_rejects_queries') ?? null,
    pxcMaintMode: v.get('pxc_maint_mode') ?? null,
  };
}

/**
 * Reads every value the health decision needs in one round trip over one pooled connection. Every
 * read is bounded by `timeoutMs` end to end (connect, both statements): a hung mysqld must turn into
 * a 503, not a hung check that HAProxy times out on its own schedule.
 */
export function createMysqlStatusReader(target: MysqlTarget, timeoutMs: number): StatusReader {
  const pool: Pool = mysql.createPool({
    ...(target.socketPath !== undefined ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
    user: target.user,
    password: target.password,
    connectionLimit: 1,
    maxIdle: 1,
    connectTimeout: timeoutMs,
    enableKeepAlive: true,
    // Only for the constant STATUS_SQL: nothing from outside is ever put into a query.
    multipleStatements: true,
  });
  // An idle pooled connection can die with mysqld; the pool drops it, the next read reconnects.
  pool.on('connection', (connection) => {
    connection.on('error', () => undefined);
  });

  const query = async (): Promise<NodeStatus> => {
    const connection = await pool.getConnection();
    let healthy = false;
    try {
      const [results] = await connection.query<RowDataPacket[][]>({ sql: STATUS_SQL, timeout: timeoutMs });
      const result: NodeStatus = { reachable: true, ...toSnapshot(results[0], results[1]) };
      healthy = true;
      return result;
    } finally {
      // A connection that failed or timed out mid-query may be half-read: never reuse it.
      if (healthy) connection.release();
      else connection.destroy();
    }
  };

  return {
    async read(): Promise<NodeStatus> {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new GaleraHaproxyError('MYSQL', `no answer within ${String(timeoutMs)} ms`, { retryable: true })),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([query(), deadline]);
      } catch (err) {
        return { reachable: false, error: describeError(err) };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.end(),
  };
}
