import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, describeError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { createHealthCache, type CachedVerdict } from './health-cache.js';
import { createMysqlStatusReader, type MysqlTarget, type StatusReader } from './mysql-status.js';
import { decideNodeHealth, type HealthPolicy } from './node-health.js';

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
        state: verdict.state,
        wsrep_local_state: verdict.wsrepLocalState,
        wsrep_local_recv_queue: verdict.recvQueue ?? null,
        reason: verdict.reason,
        checked_at: new Date(result.checkedAt).toISOString(),
      })}\n`
    : verdict.healthy
      ? SYNCED_BODY
      : NOT_SYNCED_BODY;
  res.writeHead(verdict.healthy ? 200 : 503, {
    'Content-Type': json ? 'application/json' : 'text/plain',
    'Content-Length': Buffer.byteLength(body),
    // Checks are one-shot; a kept-alive socket per HAProxy would only pin file descriptors.
    Connection: 'close',
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Percona-compatible clustercheck over HTTP: 200 when the node should take traffic, 503 otherwise.
 * Any method and path answers, since HAProxy's `option httpchk` sends OPTIONS / by default.
 */
export async function startClustercheck(
  options: ClustercheckOptions,
  deps: ClustercheckDeps,
): Promise<RunningClustercheck> {
  const timeoutMs = options.queryTimeoutMs ?? 1_000;
  const reader = deps.reader ?? createMysqlStatusReader(options.mysql, timeoutMs);
  const log = deps.logger.child({ listen: `${options.listenHost}:${String(options.listenPort)}` });
  let lastLogged = '';
  const cache = createHealthCache(
    async () => {
      const verdict = decideNodeHealth(await reader.read(), options.policy);
      const summary = `${String(verdict.healthy)} ${verdict.reason}`;
      // Log transitions only: HAProxy checks every second or two and steady state is not news.
      if (summary !== lastLogged) {
        log.info({ healthy: verdict.healthy, state: verdict.state, reason: verdict.reason }, 'node health changed');
        lastLogged = summary;
      }
      return verdict;
    },
    { cacheMs: options.cacheMs ?? 300 },
  );

  const server: Server = createServer((req, res) => {
    req.resume();
    cache.get().then(
      (result) => respond(req, res, result),
      (err: unknown) => {
        log.error({ err: describeError(err) }, 'health check failed unexpectedly');
        respond(req, res, {
          verdict: { healthy: false, state: 'Unknown', wsrepLocalState: null, reason: describeError(err) },
          checkedAt: Date.now(),
        });
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
