import { createServer, type Server } from 'node:http';
import { listenError, parseListenAddress } from '../config/start-checks.js';
import type { Metrics } from './metrics.js';

/** What `/status` reports; kept by the daemon loop and read on each request. */
export interface StatusReport {
  readonly etcd: { readonly connected: boolean; readonly lastHeardAt: number | null; readonly revision: string | null; readonly lastError: string | null };
  readonly lastPass: { readonly at: number; readonly outcome: string; readonly revision: string; readonly reason?: string } | null;
  readonly nodes: { readonly valid: number; readonly rejected: readonly { key: string; reason: string }[]; readonly incomplete: number };
}

export interface StatusServer {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus), `/status` (JSON), `/healthz`: 200 while etcd was heard from within
 * `staleAfterMs` and the last pass did not fail, 503 otherwise, so an orchestrator can see a stalled watcher.
 */
export async function startStatusServer(options: {
  listen: string;
  metrics: Metrics;
  report: () => StatusReport;
  staleAfterMs: number;
  now?: () => number;
}): Promise<StatusServer> {
  const now = options.now ?? Date.now;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      void options.metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    const report = options.report();
    if (path === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(report)}\n`);
      return;
    }
    if (path === '/healthz') {
      const problems: string[] = [];
      const heard = report.etcd.lastHeardAt;
      if (heard === null) problems.push('etcd has not answered yet');
      else if (now() - heard > options.staleAfterMs) problems.push(`etcd silent for ${Math.round((now() - heard) / 1000)} s`);
      if (report.lastPass?.outcome === 'failed') problems.push(`last sync failed: ${report.lastPass.reason ?? 'unknown'}`);
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(problems.length === 0 ? 'ok\n' : `${problems.join('; ')}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /healthz, /status or /metrics\n');
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
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
