import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseDuration, parseWait, type Wait } from '../plan/quiescence.js';
import type { LogLevel } from '../observe/logger.js';

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
}

/** The validated options of the pipeline, with every default applied. */
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
  /** Quiescence. @default 10ms:100ms */
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
  /** Past this many server changes in one plan, one reload carries them. @default 200 */
  readonly maxRuntimeOps: number;
  /** hosts(5) file read before the system resolver for node host names. */
  readonly hostsFile: string | undefined;
  /** How often host names are resolved again when no etcd event comes. @default 10s */
  readonly resolveIntervalMs: number;
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const printable = (what: string) =>
  z.string().min(1, `${what} must not be empty`).refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), `${what} must not contain control characters`);

const prefixSchema = printable('--prefix').refine((s) => s.startsWith('/'), '--prefix must start with "/"');

/** Splits `--reload-cmd`: a JSON array of strings, or words separated by spaces (no shell, no quoting). */
export function parseReloadCmd(text: string): string[] {
  const trimmed = text.trim();
  let argv: unknown;
  if (trimmed.startsWith('[')) {
    try {
      argv = JSON.parse(trimmed);
    } catch (err) {
      throw new ConfigError(`--reload-cmd: not a valid JSON array: ${(err as Error).message}`);
    }
  } else {
    argv = trimmed.split(/\s+/).filter((w) => w !== '');
  }
  const parsed = z.array(printable('--reload-cmd argument')).min(1, '--reload-cmd must name a program').safeParse(argv);
  if (!parsed.success) throw new ConfigError(parsed.error.issues[0]?.message ?? '--reload-cmd is invalid');
  return parsed.data;
}

function integer(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${what} "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigError(`${what} ${n} is out of range ${min}-${max}`);
  return n;
}

/** A duration flag (`250ms`, `2s`, `5m`), as a one-line ConfigError when malformed. */
export function parseDurationFlag(text: string, flag: string): number {
  try {
    return parseDuration(text, flag);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * A duration flag whose older form was a plain number in `bareUnit` (`--ttl 10` = 10 s, `--health-interval
 * 500` = 500 ms): plain numbers keep that meaning, `10s` or `500ms` say the unit. Bounds in ms.
 */
export function parseDurationIn(text: string, flag: string, bareUnit: 'ms' | 's', range: { minMs: number; maxMs: number }): number {
  const bare = /^\s*\d+(?:\.\d+)?\s*$/.test(text);
  const ms = parseDurationFlag(bare && bareUnit === 's' ? `${text.trim()}s` : text, flag);
  if (ms < range.minMs || ms > range.maxMs) {
    throw new ConfigError(`${flag} ${text.trim()} is out of range ${formatMs(range.minMs)}-${formatMs(range.maxMs)}`);
  }
  return ms;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function duration(text: string | undefined, what: string, fallback: number, options: { zero?: 'off' | 'rejected' } = {}): number {
  if (text === undefined) return fallback;
  const ms = parseDurationFlag(text, what);
  if (ms === 0 && options.zero === 'rejected') throw new ConfigError(`${what} ${text.trim()} must be longer than 0`);
  return ms;
}

/** Validates the flags (environment fallbacks already merged by the CLI); throws one-line ConfigErrors. */
export function resolvePipelineOptions(flags: PipelineFlags): PipelineOptions {
  const check = <T>(schema: z.ZodType<T>, value: unknown, fallback: T): T => {
    if (value === undefined) return fallback;
    const r = schema.safeParse(value);
    if (!r.success) throw new ConfigError(r.error.issues[0]?.message ?? 'invalid value');
    return r.data;
  };
  let wait: Wait = { minMs: 10, maxMs: 100 };
  if (flags.wait !== undefined) {
    try {
      wait = parseWait(flags.wait);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  const logLevel = flags.logLevel ?? 'info';
  if (!(logLevels as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level "${logLevel}" must be one of ${logLevels.join(', ')}`);
  }
  return {
    prefix: check(prefixSchema, flags.prefix, '/components/galera').replace(/\/+$/, '') || '/',
    configPath: check(printable('--config'), flags.config, '/etc/haproxy/haproxy.cfg'),
    templatePath: check(printable('--template').optional(), flags.template, undefined),
    setFlags: flags.set ?? [],
    masterSocket: check(printable('--master-socket').optional(), flags.masterSocket, undefined),
    statsSocket: check(printable('--stats-socket').optional(), flags.statsSocket, undefined),
    reloadCmd: flags.reloadCmd === undefined ? undefined : parseReloadCmd(flags.reloadCmd),
    haproxyBin: check(printable('--haproxy-bin'), flags.haproxyBin, 'haproxy'),
    wait,
    minServers: flags.minServers === undefined ? 1 : integer(flags.minServers, '--min-servers', 0, 100_000),
    logLevel: logLevel as LogLevel,
    // 0 turns the periodic full re-read off; the watch alone then keeps the mirror.
    resyncMs: duration(flags.resync, '--resync', 300_000, { zero: 'off' }),
    minReloadIntervalMs: duration(flags.minReloadInterval, '--min-reload-interval', 2_000),
    drainTimeoutMs: duration(flags.drainTimeout, '--drain-timeout', 30_000),
    checkTimeoutMs: duration(flags.checkTimeout, '--check-timeout', 10_000, { zero: 'rejected' }),
    runtimeApi: flags.runtimeApi ?? true,
    maxRuntimeOps: flags.maxRuntimeOps === undefined ? 200 : integer(flags.maxRuntimeOps, '--max-runtime-ops', 0, 1_000_000),
    hostsFile: check(printable('--hosts-file').optional(), flags.hostsFile, undefined),
    resolveIntervalMs: duration(flags.resolveInterval, '--resolve-interval', 10_000, { zero: 'off' }),
  };
}
