import { access } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, describeError } from '../errors.js';
import { createClustercheckMetrics } from '../observe/clustercheck-metrics.js';
import type { Logger } from '../observe/logger.js';
import { createHealthCache, type CachedVerdict } from './health-cache.js';
import { createMysqlStatusReader, type MysqlTarget, type StatusReader } from './mysql-status.js';
import { decideNodeHealth, failedCheckVerdict, type HealthPolicy } from './node-health.js';
import { NOT_LAGGING, type LagState } from './recv-queue-lag.js';

export interface ClustercheckOptions {
  /** @default '0.0.0.0' */
  readonly listenHost: string;
  /** @default 9200 (Percona's clustercheck under xinetd) */
  readonly listenPort: number;
  readonly mysql: MysqlTarget;
  readonly policy: HealthPolicy;
  /** End-to-end bound on one status read (connect and queries). @default 1000 */
  readonly queryTimeoutMs?: number;
  /** How long a result answers further checks. @default 300 */
  readonly cacheMs?: number;
  /** While this file exists the answer is 503 `maintenance`; absent: no such switch. */
  readonly maintenanceFile?: string;
}

export interface ClustercheckDeps {
  readonly logger: Logger;
  /** Replaces the mysql2 reader (tests). */
  readonly reader?: StatusReader;
}

export interface RunningClustercheck {
  readonly host: string;
  readonly port: number;
  /** The current verdict, through the same cache the HTTP checks use. */
  check(): Promise<CachedVerdict>;
  close(): Promise<void>;
}

const SYNCED_BODY = 'Galera cluster node is synced.\r\n';
const NOT_SYNCED_BODY = 'Galera cluster node is not synced.\r\n';

/** `0.0.0.0:9200`, `[::1]:9200`, `:9200` or `9200`. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ConfigError(`invalid --listen ${JSON.stringify(text)}: expected host:port, [ipv6]:port or port`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function wantsJson(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').toLowerCase().includes('application/json');
}

function respond(req: IncomingMessage, res: ServerResponse, result: CachedVerdict): void {
  const { verdict } = result;
  const json = wantsJson(req);
  const body = json
    ? `${JSON.stringify({
        healthy: verdict.healthy,
        reason: verdict.reason,
        message: verdict.message,
        state: verdict.state,
        wsrep_local_state: verdict.wsrepLocalState,
        wsrep_cluster_status: verdict.wsrepClusterStatus,
        wsrep_local_recv_queue: verdict.wsrepLocalRecvQueue,
        checked_at: new Date(result.checkedAt).toISOString(),
      })}\n`
    : verdict.healthy
      ? SYNCED_BODY
      : NOT_SYNCED_BODY;
  send(req, res, verdict.healthy ? 200 : 503, json ? 'application/json' : 'text/plain', body);
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    // Checks are one-shot; a kept-alive socket per HAProxy would only pin file descriptors.
    Connection: 'close',
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Percona-compatible clustercheck over HTTP: 200 when the node should take traffic, 503 otherwise.
 * Any method and path answers, since HAProxy's `option httpchk` sends OPTIONS / by default, except
 * GET or HEAD `/metrics` (Prometheus).
 */
export async function startClustercheck(
  options: ClustercheckOptions,
  deps: ClustercheckDeps,
): Promise<RunningClustercheck> {
  const timeoutMs = options.queryTimeoutMs ?? 1_000;
  const reader = deps.reader ?? createMysqlStatusReader(options.mysql, timeoutMs);
  const log = deps.logger.child({ listen: `${options.listenHost}:${String(options.listenPort)}` });
  const metrics = createClustercheckMetrics();
  const maintenanceFile = options.maintenanceFile;
  let lag: LagState = NOT_LAGGING;
  let lastLogged = '';
  const cache = createHealthCache(
    async () => {
      const [status, maintenance] = await Promise.all([
        reader.read(),
        maintenanceFile === undefined ? false : exists(maintenanceFile),
      ]);
      metrics.recordRead(status.reachable);
      // One read, one step of the hysteresis: the cache makes a burst of checks count once.
      const decision = decideNodeHealth({ status, maintenance, lag }, options.policy);
      lag = decision.lag;
      const { verdict } = decision;
      metrics.recordVerdict(verdict);
      // Log transitions only: HAProxy checks every second or two and steady state is not news.
      if (verdict.reason !== lastLogged) {
        const { healthy, reason, message, state, wsrepLocalRecvQueue } = verdict;
        log.info({ healthy, reason, detail: message, state, wsrepLocalRecvQueue }, 'node health changed');
        lastLogged = verdict.reason;
      }
      return verdict;
    },
    { cacheMs: options.cacheMs ?? 300 },
  );

  const answer = (req: IncomingMessage, res: ServerResponse, result: CachedVerdict): void => {
    metrics.recordAnswer(result.verdict);
    respond(req, res, result);
  };
  const server: Server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      metrics.registry.metrics().then(
        (text) => send(req, res, 200, metrics.registry.contentType, text),
        (err: unknown) => send(req, res, 500, 'text/plain', `${describeError(err)}\n`),
      );
      return;
    }
    cache.get().then(
      (result) => answer(req, res, result),
      (err: unknown) => {
        log.error({ err: describeError(err) }, 'health check failed unexpectedly');
        answer(req, res, { verdict: failedCheckVerdict(describeError(err)), checkedAt: Date.now() });
      },
    );
  });
  server.keepAliveTimeout = 1_000;
  server.headersTimeout = 5_000;
  server.requestTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new ConfigError(`cannot listen on ${options.listenHost}:${String(options.listenPort)}`, { cause: err })),
    );
    server.listen({ host: options.listenHost, port: options.listenPort }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  log.info({ port: address.port }, 'clustercheck listening');

  return {
    host: address.address,
    port: address.port,
    check: () => cache.get(),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await reader.close();
    },
  };
}
