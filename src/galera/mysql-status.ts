import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { GaleraHaproxyError, describeError } from '../errors.js';
import type { NodeStatus } from './node-health.js';

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

const STATUS_SQL =
  "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready', 'wsrep_local_recv_queue')";
const VARIABLES_SQL =
  "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'wsrep_reject_queries')";

function toMap(rows: RowDataPacket[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const row of rows) {
    const name: unknown = row.Variable_name;
    const value: unknown = row.Value;
    if (typeof name === 'string') map.set(name.toLowerCase(), value === null || value === undefined ? '' : String(value));
  }
  return map;
}

/**
 * Reads the values the health decision needs over one pooled connection. Every read is bounded
 * by `timeoutMs` end to end (connect, both queries): a hung mysqld must turn into a 503, not a hung
 * check that HAProxy times out on its own schedule.
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
  });
  // An idle pooled connection can die with mysqld; the pool drops it, the next read reconnects.
  pool.on('connection', (connection) => {
    connection.on('error', () => undefined);
  });

  const query = async (): Promise<NodeStatus> => {
    const connection = await pool.getConnection();
    let healthy = false;
    try {
      const [status] = await connection.query<RowDataPacket[]>({ sql: STATUS_SQL, timeout: timeoutMs });
      const [variables] = await connection.query<RowDataPacket[]>({ sql: VARIABLES_SQL, timeout: timeoutMs });
      const s = toMap(status);
      const v = toMap(variables);
      const localState = s.get('wsrep_local_state');
      const recvQueue = Number(s.get('wsrep_local_recv_queue') ?? '');
      const result: NodeStatus = {
        reachable: true,
        wsrepLocalState: localState === undefined || localState === '' ? null : Number(localState),
        wsrepReady: s.get('wsrep_ready') ?? null,
        readOnly: v.get('read_only') ?? null,
        wsrepRejectQueries: v.get('wsrep_reject_queries') ?? null,
        ...(s.has('wsrep_local_recv_queue') && Number.isSafeInteger(recvQueue) ? { wsrepLocalRecvQueue: recvQueue } : {}),
      };
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
