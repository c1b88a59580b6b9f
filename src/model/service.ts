import { normalizePrefix } from './prefix.js';

/**
 * One backend that galera-haproxy keeps in step with etcd: the nodes registered under `prefix` become the
 * servers of the HAProxy section called `name`. Without a config file there is exactly one, built from
 * the flags and template variables (the Galera service of earlier versions, byte for byte the same file).
 */
export interface ServiceSpec {
  /** Section name in haproxy.cfg and the `service` label of logs and metrics: 1-64 of [A-Za-z0-9_.:-]. */
  readonly name: string;
  /** etcd prefix, normalised to end with exactly one `/`. No service's prefix lies inside another's. */
  readonly prefix: string;
  /** `bind` addresses of the section (`host:port`, `[v6]:port`, `*:port`, `:port`); at least one. */
  readonly listen: readonly string[];
  readonly mode: 'tcp' | 'http';
  readonly balance: Balance;
  readonly check: HealthCheck;
  /**
   * Extra `default-server` keywords for this section (after `check`/`inter`/`rise`/`fall`), as tokens,
   * each of [A-Za-z0-9_.,:/@+-]: e.g. `["maxconn", "100", "on-marked-down", "shutdown-sessions"]`.
   */
  readonly serverOptions: readonly string[];
  /** `option forwardfor` (http mode only). */
  readonly forwardFor: boolean;
  /** Never write this section with fewer servers than this (a guard against an etcd outage). */
  readonly minServers: number;
  /** Port of a seed-layout node that registers no `port` key (3306 for Galera, 80 for a web tier). */
  readonly defaultPort: number;
  /**
   * Galera services only: `single` = one writer, the one the etcd writer record names (every proxy of the
   * service renders the same one; see model/writer-record.ts); `multi` = every node takes writes.
   */
  readonly writer: 'multi' | 'single';
  /**
   * Single-writer mode: the etcd key of the writer record every proxy of this service agrees on. Must lie
   * under {@link prefix} (the same watch carries it). @default `<prefix>/_writer` (see {@link writerKeyOf})
   */
  readonly writerKey?: string;
  /** A second, read-only listener over the same nodes (Galera), or undefined. */
  readonly readListen?: string;
  /** A nunjucks fragment that renders this service's section instead of the default block. */
  readonly template?: string;
}

export type Balance = 'leastconn' | 'roundrobin' | 'static-rr' | 'first' | 'source';

export const BALANCES: readonly Balance[] = ['leastconn', 'roundrobin', 'static-rr', 'first', 'source'];

export type HealthCheck =
  /** `option httpchk` + `http-check send` + `http-check expect status N`; port defaults to the server's. */
  | {
      readonly type: 'http';
      readonly method: 'GET' | 'HEAD' | 'OPTIONS';
      readonly path: string;
      /** `Host` header; with it the request is HTTP/1.1. */
      readonly host?: string;
      readonly port?: number;
      readonly expectStatus: number;
    }
  /** A TCP connect check, optionally on another port. */
  | { readonly type: 'tcp'; readonly port?: number }
  | { readonly type: 'none' };

/** The leaf of the default writer record key: `_` keeps it apart from node ids a registrar would write. */
export const DEFAULT_WRITER_LEAF = '_writer';

/** The key of a service's writer record: its own `writerKey`, else `<prefix>/_writer`. */
export function writerKeyOf(service: Pick<ServiceSpec, 'prefix' | 'writerKey'>): string {
  return service.writerKey ?? `${normalizePrefix(service.prefix)}${DEFAULT_WRITER_LEAF}`;
}
