import mysql from 'mysql2/promise';
import { initialPacerState, pace } from './pacer.js';
import type { WriteRecord } from './write-ledger.js';

export interface ClientLoadOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** New connections opened per second. */
  readonly ratePerSecond: number;
  /** Stops opening connections when aborted; also bounded by `maxDurationMs`. */
  readonly signal: AbortSignal;
  readonly maxDurationMs: number;
  /** Per connection: connect, INSERT, SELECT, close. @default 20000 */
  readonly timeoutMs?: number;
  /**
   * Connections open at once; a tick due at the cap is skipped. Commits stall cluster-wide until a
   * killed node is evicted (evs.suspect_timeout, 3 s), so the cap holds more than that at the rate.
   * @default 256
   */
  readonly maxInFlight?: number;
  /** Every attempt, with its start, end and committing node, is appended here as proxy `ledger.proxy`. */
  readonly ledger?: { readonly proxy: number; readonly records: WriteRecord[] };
}

export interface ClientLoadStats {
  tried: number;
  /** Ticks not attempted because the loop ran late (a busy machine), never made up in a burst. */
  skippedLate: number;
  /** Ticks not attempted because `maxInFlight` connections were still open. */
  skippedAtCap: number;
  ok: number;
  /** The connection (through HAProxy, to a node) could not be set up. */
  connectFailed: number;
  /** Connected, then the INSERT or SELECT failed (e.g. the node died under it). */
  queryFailed: number;
  /** Successful connections per `wsrep_node_name` that served them. */
  perNode: Record<string, number>;
  /** Epoch ms of each success with the node, for per-phase attribution. */
  served: { at: number; node: string }[];
  firstFailures: string[];
  /** Epoch ms of every failure, to tell in-flight victims of a kill from failed new connections. */
  failedAt: number[];
  elapsedMs: number;
}

/**
 * An application that opens a fresh connection per request: connect through HAProxy, INSERT one row,
 * SELECT which node answered, close. New connections are what a proxy change must never break.
 */
export async function runClientLoad(options: ClientLoadOptions): Promise<ClientLoadStats> {
  const stats: ClientLoadStats = {
    tried: 0,
    skippedLate: 0,
    skippedAtCap: 0,
    ok: 0,
    connectFailed: 0,
    queryFailed: 0,
    perNode: {},
    served: [],
    firstFailures: [],
    failedAt: [],
    elapsedMs: 0,
  };
  const timeoutMs = options.timeoutMs ?? 20_000;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  const record = (startedAt: number, node: string | null, error: string | null, writeStartedAt?: number): void => {
    options.ledger?.records.push({ proxy: options.ledger.proxy, startedAt, endedAt: Date.now(), node, error, ...(writeStartedAt === undefined ? {} : { writeStartedAt }) });
  };
  const fail = (kind: 'connectFailed' | 'queryFailed', err: unknown, startedAt: number): void => {
    record(startedAt, null, err instanceof Error ? ((err as { code?: string }).code ?? err.message) : String(err));
    stats[kind] += 1;
    stats.failedAt.push(Date.now());
    if (stats.firstFailures.length < 10) {
      stats.firstFailures.push(`${kind} at +${String(Date.now() - started)} ms: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const once = async (): Promise<void> => {
    const startedAt = Date.now();
    let connection: mysql.Connection;
    try {
      connection = await mysql.createConnection({
        host: options.host,
        port: options.port,
        user: options.user,
        password: options.password,
        database: 'e2e',
        connectTimeout: timeoutMs,
      });
    } catch (err) {
      fail('connectFailed', err, startedAt);
      return;
    }
    const writeStartedAt = Date.now();
    try {
      await connection.query({ sql: 'INSERT INTO writes (node) VALUES (@@wsrep_node_name)', timeout: timeoutMs });
      const [rows] = await connection.query<mysql.RowDataPacket[]>({ sql: 'SELECT @@wsrep_node_name AS node', timeout: timeoutMs });
      const node = String(rows[0]?.node);
      stats.ok += 1;
      stats.perNode[node] = (stats.perNode[node] ?? 0) + 1;
      stats.served.push({ at: Date.now(), node });
      record(startedAt, node, null, writeStartedAt);
      await connection.end().catch(() => undefined);
    } catch (err) {
      fail('queryFailed', err, startedAt);
      connection.destroy();
    }
  };
  const pacer = { startedAt: started, intervalMs: 1000 / options.ratePerSecond, maxInFlight: options.maxInFlight ?? 256 };
  let state = initialPacerState;
  // Every turn yields to the event loop, so late ticks are skipped rather than launched back to back.
  while (!options.signal.aborted && Date.now() - started <= options.maxDurationMs) {
    const step = pace(pacer, state, Date.now(), inFlight.size);
    state = step.state;
    if (step.launch) {
      stats.tried += 1;
      const p: Promise<void> = once().finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await new Promise((r) => setTimeout(r, step.waitMs));
  }
  stats.skippedLate = state.skippedLate;
  stats.skippedAtCap = state.skippedAtCap;
  await Promise.all(inFlight);
  stats.elapsedMs = Date.now() - started;
  return stats;
}
