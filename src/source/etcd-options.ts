import { ConfigError } from '../errors.js';
import { prefixProblem, stripTrailingSlashes } from '../model/prefix.js';

/** How to reach etcd and how hard to try. Built by `resolveEtcdOptions` from flags and environment. */
export interface EtcdSourceOptions {
  /** Client URLs (`http://host:port` or `https://…`); requests fail over between them. */
  readonly endpoints: readonly string[];
  /** Key prefix to mirror, without a trailing slash. @default '/components/galera' */
  readonly prefix: string;
  /** TLS material (PEM contents, not paths) for `https://` endpoints. */
  readonly tls?: EtcdTls;
  /** User/password auth; the password is never logged. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Time allowed to open a connection. @default 2000 */
  readonly dialTimeoutMs: number;
  /** Deadline for one unary request (range, status). @default 5000 */
  readonly requestTimeoutMs: number;
  /** Full re-read compared with the mirror; a difference is logged as a bug. 0 disables. @default 300000 */
  readonly resyncIntervalMs: number;
  /** Cheap linearizable read that proves etcd (and its leader) still answers. @default 5000 */
  readonly heartbeatIntervalMs: number;
  /** Silence longer than this is logged as stale and reported by `health()`. @default 15000 */
  readonly staleAfterMs: number;
  /** Reconnect delays: exponential from `initialMs` to `maxMs`, with full jitter. @default { initialMs: 100, maxMs: 3000 } */
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** Send `hasleader=true` so a member cut off from quorum refuses us instead of serving stale data. @default true */
  readonly requireLeader: boolean;
  /** `start()` resolves after this long even without a first snapshot (the daemon keeps its last config). @default 10000 */
  readonly startTimeoutMs: number;
}

export interface EtcdTls {
  /** PEM of the CA that signed etcd's certificate. */
  readonly ca: Buffer;
  /** PEM client certificate, for etcd started with `--client-cert-auth`. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** The flags the CLI passes through untouched (commander's camelCase names). */
export interface EtcdFlags {
  readonly etcdEndpoints?: string;
  readonly prefix?: string;
  readonly etcdCacert?: string;
  readonly etcdCert?: string;
  readonly etcdKey?: string;
  readonly etcdUser?: string;
  readonly etcdPasswordFile?: string;
  readonly resyncMs?: number;
  readonly requireLeader?: boolean;
  readonly startTimeoutMs?: number;
}

export type ReadFile = (path: string) => Buffer;

export const ETCD_DEFAULTS = {
  endpoints: ['http://127.0.0.1:2379'],
  prefix: '/components/galera',
  dialTimeoutMs: 2000,
  requestTimeoutMs: 5000,
  resyncIntervalMs: 300_000,
  heartbeatIntervalMs: 5000,
  staleAfterMs: 15_000,
  backoff: { initialMs: 100, maxMs: 3000 },
  requireLeader: true,
  startTimeoutMs: 10_000,
} as const;

/** Comma-separated endpoints; a bare `host:port` gets `http://`. Errors start with `origin`. */
export function parseEndpoints(raw: string, origin: string): string[] {
  const endpoints = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((e) => (/^[a-z]+:\/\//i.test(e) ? e : `http://${e}`));
  if (endpoints.length === 0) throw new ConfigError(`${origin} is empty: give at least one etcd endpoint`);
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch (err) {
      throw new ConfigError(`${origin}: '${endpoint}' is not a URL`, { cause: err });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`${origin}: '${endpoint}' must use http:// or https://`);
    }
    if (url.port === '' || url.hostname === '') {
      throw new ConfigError(`${origin}: '${endpoint}' needs host:port`);
    }
  }
  return endpoints;
}

function normalisePrefix(prefix: string): string {
  const problem = prefixProblem(prefix);
  if (problem !== null) throw new ConfigError(`--prefix '${prefix}' ${problem}`);
  return stripTrailingSlashes(prefix);
}

function readPem(readFile: ReadFile, path: string, what: string): Buffer {
  try {
    return readFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} '${path}': ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

function resolveTls(flags: EtcdFlags, env: NodeJS.ProcessEnv, readFile: ReadFile): EtcdTls | undefined {
  const ca = flags.etcdCacert ?? env.ETCDCTL_CACERT;
  const cert = flags.etcdCert ?? env.ETCDCTL_CERT;
  const key = flags.etcdKey ?? env.ETCDCTL_KEY;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('--etcd-cert and --etcd-key go together: give both or neither');
  }
  if (ca === undefined && cert === undefined) return undefined;
  if (ca === undefined) throw new ConfigError('--etcd-cert needs --etcd-cacert (the CA that signed etcd)');
  return {
    ca: readPem(readFile, ca, 'CA certificate (--etcd-cacert)'),
    ...(cert !== undefined && key !== undefined
      ? {
          cert: readPem(readFile, cert, 'client certificate (--etcd-cert)'),
          key: readPem(readFile, key, 'client key (--etcd-key)'),
        }
      : {}),
  };
}

function resolveAuth(
  flags: EtcdFlags,
  env: NodeJS.ProcessEnv,
  readFile: ReadFile,
): { username: string; password: string } | undefined {
  const rawUser = flags.etcdUser ?? env.ETCDCTL_USER;
  if (rawUser === undefined || rawUser === '') {
    if (flags.etcdPasswordFile !== undefined) throw new ConfigError('--etcd-password-file needs --etcd-user');
    return undefined;
  }
  // etcdctl's `user:password` form is accepted, but a flag is visible in `ps`, hence the env/file routes.
  const colon = rawUser.indexOf(':');
  const username = colon === -1 ? rawUser : rawUser.slice(0, colon);
  let password = colon === -1 ? undefined : rawUser.slice(colon + 1);
  if (flags.etcdPasswordFile !== undefined) {
    password = readPem(readFile, flags.etcdPasswordFile, 'password file (--etcd-password-file)')
      .toString('utf8')
      .replace(/\r?\n$/, '');
  } else {
    password = env.GALERA_HAPROXY_ETCD_PASSWORD ?? password ?? env.ETCDCTL_PASSWORD;
  }
  if (username === '') throw new ConfigError('--etcd-user has an empty user name');
  if (password === undefined || password === '') {
    throw new ConfigError(
      `no password for etcd user '${username}': set GALERA_HAPROXY_ETCD_PASSWORD or --etcd-password-file`,
    );
  }
  return { username, password };
}

/** Flags win over `ETCDCTL_*` variables, which win over defaults. Throws `ConfigError` with one line. */
export function resolveEtcdOptions(
  flags: EtcdFlags,
  env: NodeJS.ProcessEnv,
  readFile: ReadFile = () => {
    throw new Error('no file reader given');
  },
): EtcdSourceOptions {
  const rawEndpoints = flags.etcdEndpoints ?? env.ETCDCTL_ENDPOINTS;
  const endpoints =
    rawEndpoints === undefined
      ? [...ETCD_DEFAULTS.endpoints]
      : parseEndpoints(rawEndpoints, flags.etcdEndpoints === undefined ? 'ETCDCTL_ENDPOINTS' : '--etcd-endpoints');
  const tls = resolveTls(flags, env, readFile);
  if (tls === undefined && endpoints.some((e) => e.startsWith('https:'))) {
    throw new ConfigError('https:// etcd endpoints need --etcd-cacert (or ETCDCTL_CACERT)');
  }
  const auth = resolveAuth(flags, env, readFile);
  const resync = flags.resyncMs ?? ETCD_DEFAULTS.resyncIntervalMs;
  if (!Number.isInteger(resync) || resync < 0) throw new ConfigError(`--resync must be a whole number of ms ≥ 0, got ${resync}`);
  const startTimeout = flags.startTimeoutMs ?? ETCD_DEFAULTS.startTimeoutMs;
  if (!Number.isInteger(startTimeout) || startTimeout < 0) {
    throw new ConfigError(`start timeout must be a whole number of ms ≥ 0, got ${startTimeout}`);
  }
  return {
    endpoints,
    prefix: normalisePrefix(flags.prefix ?? ETCD_DEFAULTS.prefix),
    ...(tls === undefined ? {} : { tls }),
    ...(auth === undefined ? {} : { auth }),
    dialTimeoutMs: ETCD_DEFAULTS.dialTimeoutMs,
    requestTimeoutMs: ETCD_DEFAULTS.requestTimeoutMs,
    resyncIntervalMs: resync,
    heartbeatIntervalMs: ETCD_DEFAULTS.heartbeatIntervalMs,
    staleAfterMs: ETCD_DEFAULTS.staleAfterMs,
    backoff: { ...ETCD_DEFAULTS.backoff },
    requireLeader: flags.requireLeader ?? ETCD_DEFAULTS.requireLeader,
    startTimeoutMs: startTimeout,
  };
}

/** Options for tests and library callers: defaults plus what they name. */
export function etcdSourceOptions(
  overrides: Partial<EtcdSourceOptions> & Pick<EtcdSourceOptions, 'endpoints'>,
): EtcdSourceOptions {
  return {
    prefix: ETCD_DEFAULTS.prefix,
    dialTimeoutMs: ETCD_DEFAULTS.dialTimeoutMs,
    requestTimeoutMs: ETCD_DEFAULTS.requestTimeoutMs,
    resyncIntervalMs: ETCD_DEFAULTS.resyncIntervalMs,
    heartbeatIntervalMs: ETCD_DEFAULTS.heartbeatIntervalMs,
    staleAfterMs: ETCD_DEFAULTS.staleAfterMs,
    backoff: { ...ETCD_DEFAULTS.backoff },
    requireLeader: ETCD_DEFAULTS.requireLeader,
    startTimeoutMs: ETCD_DEFAULTS.startTimeoutMs,
    ...overrides,
  };
}

/** What may be logged about the options: never the password or key material. */
export function describeEtcdOptions(options: EtcdSourceOptions): Record<string, unknown> {
  return {
    endpoints: options.endpoints,
    prefix: options.prefix,
    tls: options.tls !== undefined,
    clientCert: options.tls?.cert !== undefined,
    user: options.auth?.username ?? null,
    requireLeader: options.requireLeader,
  };
}
