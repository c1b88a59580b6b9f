import type { Wait } from '../plan/quiescence.js';
import type { LogLevel } from '../observe/logger.js';
import { resolveOptionValues, toPipelineOptions } from './settings.js';

export { parseDurationFlag, parseDurationIn, parseReloadCmd } from './parse-values.js';

/** Flags shared by `render`, `once` and `watch`, as commander hands them over (strings, untrusted). */
export interface PipelineFlags {
  prefix?: string;
  config?: string;
  template?: string;
  set?: string[];
  masterSocket?: string;
  statsSocket?: string;
  reloadCmd?: string;
  haproxyBin?: string;
  wait?: string;
  minServers?: string;
  logLevel?: string;
  resync?: string;
  minReloadInterval?: string;
  drainTimeout?: string;
  checkTimeout?: string;
  runtimeApi?: boolean;
  maxRuntimeOps?: string;
  hostsFile?: string;
  resolveInterval?: string;
  repairInterval?: string;
  statusListen?: string;
  staleAfter?: string;
  proxyId?: string;
  writerHandover?: string;
}

/** The validated options of the pipeline, with every default applied (defaults: config/option-table.ts). */
export interface PipelineOptions {
  /** etcd prefix the Galera nodes register under. @default "/components/galera" */
  readonly prefix: string;
  /** The haproxy.cfg to manage. @default "/etc/haproxy/haproxy.cfg" */
  readonly configPath: string;
  /** A nunjucks template to use instead of the bundled one. */
  readonly templatePath: string | undefined;
  /** `--set name=value` pairs, validated later against the template's variables. */
  readonly setFlags: readonly string[];
  /** HAProxy master CLI socket (HAProxy started with `-W -S <socket>`); reloads go through it. */
  readonly masterSocket: string | undefined;
  /** Admin stats socket for the Runtime API. @default the template's `stats_socket` */
  readonly statsSocket: string | undefined;
  /** Reload command as an argv (no shell), instead of the master CLI. */
  readonly reloadCmd: readonly string[] | undefined;
  /** @default "haproxy" */
  readonly haproxyBin: string;
  /** Quiescence: an idle daemon applies the first change at once; changes during a pass or within MIN after it wait MIN, never past MAX. @default 10ms:100ms */
  readonly wait: Wait;
  /** Never write a config with fewer servers than this. @default 1 */
  readonly minServers: number;
  readonly logLevel: LogLevel;
  /** etcd full re-read interval (compared with the mirror). @default 5m */
  readonly resyncMs: number;
  /** @default 2s */
  readonly minReloadIntervalMs: number;
  /** @default 30s */
  readonly drainTimeoutMs: number;
  /** @default 10s */
  readonly checkTimeoutMs: number;
  /** Server changes through the Runtime API; off, every change is a reload. @default true */
  readonly runtimeApi: boolean;
  /** Upper bound: past this many server changes in one plan, one reload carries them; below, the cheaper way by estimate. @default 100000 */
  readonly maxRuntimeOps: number;
  /** hosts(5) file read before the system resolver for node host names. */
  readonly hostsFile: string | undefined;
  /** How often host names are resolved again when no etcd event comes. @default 10s */
  readonly resolveIntervalMs: number;
  /** How often HAProxy's runtime is compared with the file (watch). @default 5s */
  readonly repairIntervalMs: number;
  /** Address of /healthz, /status and /metrics (watch). */
  readonly statusListen: string | undefined;
  /** /healthz turns 503 after this much etcd silence (watch). @default 30s */
  readonly staleAfterMs: number;
  /** Who this proxy is in a writer record's `by`. @default the host name */
  readonly proxyId: string | undefined;
  /** Single writer: writes wait this long after the record moved before the new writer takes them. @default 1s */
  readonly writerHandoverMs: number;
}

/** Validates flags alone, without a config file or the environment; throws one-line ConfigErrors. */
export function resolvePipelineOptions(flags: PipelineFlags): PipelineOptions {
  const values = resolveOptionValues({ flags });
  return toPipelineOptions(values, flags.set ?? []);
}
