import { createServer, type Server } from 'node:http';
import { listenError, parseListenAddress } from '../config/start-checks.js';
import type { Metrics } from './metrics.js';
import type { SourceHealth } from '../source/types.js';
import type { WriterView } from '../model/writer-record.js';

/** What the daemon loop keeps for `/status`; read on each request. */
export interface StatusReport {
  readonly etcd: SourceHealth;
  readonly lastPass: { readonly at: number; readonly outcome: string; readonly revision: string; readonly reason?: string } | null;
  readonly nodes: { readonly valid: number; readonly rejected: readonly { key: string; reason: string }[]; readonly incomplete: number };
  /** Per service (HAProxy section): its prefix and node counts at the last pass, and whether its guard held. */
  readonly services?: readonly ServiceStatus[];
  /** The config file, and why its last edit was refused (the running config stays), when it was. */
  readonly configFile?: { readonly path: string; readonly rejected?: string };
}

export interface ServiceStatus {
  readonly name: string;
  readonly prefix: string;
  readonly valid: number;
  readonly rejected: number;
  readonly incomplete: number;
  /** Servers of the valid nodes that are draining, when any is. */
  readonly draining?: readonly string[];
  /** Why the service's min-servers guard holds it, when it does. */
  readonly held?: string;
  /**
   * Single-writer services: the etcd writer record as this proxy last read it (epoch, node, who wrote it
   * and why), the server its write listener sends writes to, and whether this proxy sees that writer UP.
   */
  readonly writer?: WriterView;
}

export interface StatusServer {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus), `/status` (JSON), `/healthz`. All three read the same values: `/healthz` is
 * 503 while the watch has not been attached and delivering within `staleAfterMs` (unary answers alone
 * do not count: a watch can be silently detached while they succeed), while `unable_to_sync` is 1, or
 * after a failed pass; `/status` carries the same problems with the times as ISO text and ages.
 */
export async function startStatusServer(options: {
  listen: string;
  metrics: Metrics;
  report: () => StatusReport;
  staleAfterMs: number;
  now?: () => number;
}): Promise<StatusServer> {
  const now = options.now ?? Date.now;
  const handle = async (path: string): Promise<{ code: number; type: string; body: string }> => {
    if (path === '/metrics') {
      return { code: 200, type: options.metrics.registry.contentType, body: await options.metrics.registry.metrics() };
    }
    const report = options.report();
    const unableToSync = (await options.metrics.unableToSync.get()).values[0]?.value ?? 0;
    const problems = listProblems(report, unableToSync, options.staleAfterMs, now());
    if (path === '/status') {
      const body = {
        healthy: problems.length === 0,
        problems,
        etcd: describeEtcd(report.etcd, now()),
        unableToSync,
        lastPass: report.lastPass,
        nodes: report.nodes,
        ...(report.services === undefined ? {} : { services: report.services }),
        ...(report.configFile === undefined ? {} : { configFile: report.configFile }),
      };
      return { code: 200, type: 'application/json', body: `${JSON.stringify(body)}\n` };
    }
    if (path === '/healthz') {
      return { code: problems.length === 0 ? 200 : 503, type: 'text/plain', body: problems.length === 0 ? 'ok\n' : `${problems.join('; ')}\n` };
    }
    return { code: 404, type: 'text/plain', body: 'not found: try /healthz, /status or /metrics\n' };
  };
  const server: Server = createServer((req, res) => {
    void handle((req.url ?? '/').split('?')[0] ?? '/').then(
      ({ code, type, body }) => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  const { host, port } = parseListenAddress(options.listen, '--status-listen');
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => reject(listenError(options.listen, '--status-listen', err));
    server.once('error', failed);
    server.listen({ host, port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : options.listen;
  return {
    address,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // An idle keep-alive connection (a scraper's) would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}

function listProblems(report: StatusReport, unableToSync: number, staleAfterMs: number, now: number): string[] {
  const problems: string[] = [];
  const { lastHeardAt, watch } = report.etcd;
  if (lastHeardAt === null) problems.push('etcd has not answered yet');
  else if (now - lastHeardAt > staleAfterMs) problems.push(`etcd silent for ${seconds(now - lastHeardAt)} s`);
  if (watch.verifiedAt === null) problems.push('the etcd watch has not been attached yet');
  else if (now - watch.verifiedAt > staleAfterMs) {
    problems.push(`the etcd watch has not been ${watch.attached ? 'delivering' : 'attached'} for ${seconds(now - watch.verifiedAt)} s`);
  }
  if (unableToSync !== 0) problems.push('unable to sync HAProxy with etcd');
  if (report.lastPass?.outcome === 'failed') problems.push(`last sync failed: ${report.lastPass.reason ?? 'unknown'}`);
  for (const service of report.services ?? []) if (service.held !== undefined) problems.push(`service ${service.name} held by its guard: ${service.held}`);
  if (report.configFile?.rejected !== undefined) problems.push(`config file ${report.configFile.path} not applied: ${report.configFile.rejected}`);
  return problems;
}

function describeEtcd(health: SourceHealth, now: number): Record<string, unknown> {
  const at = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  const age = (ms: number | null): number | null => (ms === null ? null : seconds(now - ms));
  return {
    connected: health.connected,
    lastHeardAt: at(health.lastHeardAt),
    lastHeardAgeSeconds: age(health.lastHeardAt),
    revision: health.revision,
    lastError: health.lastError,
    watch: { attached: health.watch.attached, verifiedAt: at(health.watch.verifiedAt), verifiedAgeSeconds: age(health.watch.verifiedAt) },
  };
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
