import { ConfigError } from '../errors.js';
import { prefixProblem, stripTrailingSlashes } from '../model/prefix.js';
import { checkProxyId } from '../model/writer-record.js';
import { parseDuration, parseWait, type Wait } from '../plan/quiescence.js';
import { parseEndpoints } from '../source/etcd-options.js';
import type { LogLevel } from '../observe/logger.js';

/**
 * Parsers of option values. Each takes the text and a label saying where it came from (`--min-servers`,
 * `GALERA_HAPROXY_MIN_SERVERS`, `min-servers`), and throws a one-line ConfigError that starts with the
 * label, so the config file can put its `file:line:` in front and the same parser serves every source.
 */
export type ValueParser<T> = (text: string, label: string) => T;

const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** Non-empty text without control characters (a path, a socket, an address). */
export const printable: ValueParser<string> = (text, label) => {
  if (text === '') throw new ConfigError(`${label} must not be empty`);
  if (hasControl(text)) throw new ConfigError(`${label} must not contain control characters`);
  return text;
};

/** An etcd prefix without its trailing slash; the root is refused, it would mirror the whole keyspace. */
export const prefix: ValueParser<string> = (text, label) => {
  printable(text, label);
  const problem = prefixProblem(text);
  if (problem !== null) throw new ConfigError(`${label} ${problem}`);
  return stripTrailingSlashes(text);
};

/** A proxy id: the `by` of a writer record (see model/writer-record.ts). */
export const proxyId: ValueParser<string> = (text, label) => {
  const reason = checkProxyId(text);
  if (reason !== null) throw new ConfigError(`${label} ${JSON.stringify(text)} ${reason}`);
  return text;
};

export function integer(min: number, max: number): ValueParser<number> {
  return (text, label) => {
    if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${label} "${text}" is not a whole number`);
    const n = Number(text);
    if (n < min || n > max) throw new ConfigError(`${label} ${n} is out of range ${min}-${max}`);
    return n;
  };
}

/** A duration flag (`250ms`, `2s`, `5m`, or bare milliseconds), as a one-line ConfigError when malformed. */
export function parseDurationFlag(text: string, label: string): number {
  try {
    return parseDuration(text, label);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** A duration in ms; `zero: 'off'` documents that 0 turns the feature off, `'rejected'` refuses it. */
export function duration(zero: 'off' | 'rejected' | 'allowed'): ValueParser<number> {
  return (text, label) => {
    const ms = parseDurationFlag(text, label);
    if (ms === 0 && zero === 'rejected') throw new ConfigError(`${label} ${text.trim()} must be longer than 0`);
    return ms;
  };
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

/** `--wait MIN[:MAX]`. */
export const wait: ValueParser<Wait> = (text, label) => {
  try {
    return parseWait(text);
  } catch (err) {
    // parseWait names the flag itself; the label says where this value came from.
    throw new ConfigError((err as Error).message.replace(/^--wait\b/, label));
  }
};

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const logLevel: ValueParser<LogLevel> = (text, label) => {
  const level = LOG_LEVELS.find((l) => l === text);
  if (level === undefined) throw new ConfigError(`${label} "${text}" must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
};

/** A switch given as text (environment, file): true/false, yes/no, on/off, 1/0. */
export const boolean: ValueParser<boolean> = (text, label) => {
  const t = text.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(t)) return true;
  if (['false', 'no', 'off', '0'].includes(t)) return false;
  throw new ConfigError(`${label} "${text}" must be true or false`);
};

/** Comma-separated etcd client URLs, checked now and kept as given (the etcd source parses them). */
export const endpoints: ValueParser<string> = (text, label) => {
  parseEndpoints(text, label);
  return text;
};

/** Splits a reload command: a JSON array of strings, or words separated by spaces (no shell, no quoting). */
export const reloadCmd: ValueParser<string[]> = (text, label) => {
  const trimmed = text.trim();
  let argv: unknown;
  if (trimmed.startsWith('[')) {
    try {
      argv = JSON.parse(trimmed);
    } catch (err) {
      throw new ConfigError(`${label}: not a valid JSON array: ${(err as Error).message}`);
    }
  } else {
    argv = trimmed.split(/\s+/).filter((w) => w !== '');
  }
  if (!Array.isArray(argv) || argv.length === 0) throw new ConfigError(`${label} must name a program`);
  return argv.map((word: unknown) => {
    if (typeof word !== 'string') throw new ConfigError(`${label}: every argument must be a string`);
    return printable(word, `${label} argument`);
  });
};

/** `--reload-cmd` as the CLI names it. */
export function parseReloadCmd(text: string): string[] {
  return reloadCmd(text, '--reload-cmd');
}
