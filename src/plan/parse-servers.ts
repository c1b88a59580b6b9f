import { groupServerOptions, mergeServerOptions } from './server-options.js';
import type { ServerSpec } from './types.js';

/** A `server` line with the options that are not managed per node (kept verbatim for `add server`). */
export interface ParsedServer extends ServerSpec {
  /** Tokens after `<addr>:<port>` other than `weight N` and `backup`, in file order. */
  readonly options: readonly string[];
  /** The line ends with the comment `# draining`: the server is wanted in HAProxy's DRAIN state. */
  readonly draining?: true;
}

/**
 * How a rendered file says a server is draining. HAProxy has no server keyword for a drained start
 * (`disabled` is maintenance, `weight 0` would lose the node's weight), so the file carries it as a
 * comment HAProxy ignores and the plan reads back; a reload keeps the state through the server-state
 * file (FDRAIN), and a cold start is drained again by the first pass or the drift repair.
 */
const DRAINING_COMMENT = /#\s*draining\s*$/;

/**
 * How a rendered file marks a single-writer listener (the comment on its `balance first` line): the
 * plan cuts the sessions left on the other servers when the writer changes there.
 */
const SINGLE_WRITER_COMMENT = /^\s*balance\s+first\s*#\s*single writer\s*$/;

/** What a rendered config says about its proxies and servers. */
export interface ParsedConfig {
  readonly servers: readonly ParsedServer[];
  /**
   * `default-server` tokens per listen/backend section: the defaults section's lines merged with the
   * section's own, as HAProxy merges them (see `mergeServerOptions`).
   */
  readonly defaultServer: ReadonlyMap<string, readonly string[]>;
  /** Names of listen/backend sections, in file order. */
  readonly backends: readonly string[];
  /** The sections marked as single-writer listeners (`balance first # single writer`). */
  readonly singleWriter: ReadonlySet<string>;
  /** `server-state-file` from the global section, or null. */
  readonly serverStateFile: string | null;
  /** `server-state-base` from the global section, or null. */
  readonly serverStateBase: string | null;
}

const SECTION_KEYWORDS = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'peers', 'resolvers', 'userlist', 'program', 'http-errors', 'ring', 'mailers', 'cache']);
const SERVER_SECTIONS = new Set(['listen', 'backend']);

function tokensOf(line: string): string[] {
  const hash = line.indexOf('#');
  const code = hash === -1 ? line : line.slice(0, hash);
  return code.trim().split(/\s+/).filter((t) => t.length > 0);
}

/** Splits `addr:port`, `[v6]:port` or a bare v6 with a trailing `:port`; port 0 when absent. */
export function splitAddress(value: string): { address: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (bracketed?.[1] !== undefined && bracketed[2] !== undefined) return { address: bracketed[1], port: Number(bracketed[2]) };
  const colon = value.lastIndexOf(':');
  if (colon === -1) return { address: value, port: 0 };
  return { address: value.slice(0, colon), port: Number(value.slice(colon + 1)) };
}

function parseServerLine(backend: string, tokens: readonly string[], defaults: readonly string[]): ParsedServer | null {
  const name = tokens[1];
  const addr = tokens[2];
  if (name === undefined || addr === undefined) return null;
  const { address, port } = splitAddress(addr);
  // Without its own `weight`, a server takes the default-server's, else HAProxy's 1.
  const inherited = groupServerOptions(defaults).filter((o) => o.keyword === 'weight').pop()?.args[0];
  let weight = inherited === undefined ? 1 : Number(inherited);
  let backup = false;
  const options: string[] = [];
  for (let i = 3; i < tokens.length; i += 1) {
    const token = tokens[i] ?? '';
    if (token === 'weight' && tokens[i + 1] !== undefined) {
      weight = Number(tokens[i + 1]);
      i += 1;
    } else if (token === 'backup') {
      backup = true;
    } else {
      options.push(token);
    }
  }
  return { backend, name, address, port, weight, backup, options };
}

/**
 * The few configs of the pass in flight (the one HAProxy runs and the one just rendered), each parsed
 * once: the guard, the single writer, the structure check, the plan and the applier all read them, and
 * a config of 10,000 servers takes milliseconds to parse. Results are immutable values, so sharing
 * them is safe; a text is its own key.
 */
const CACHE_SIZE = 4;
const parsedCache = new Map<string, ParsedConfig>();
const structureCache = new Map<string, string>();

function remember<T>(cache: Map<string, T>, key: string, compute: () => T): T {
  const hit = cache.get(key);
  if (hit !== undefined) {
    // Most recently used last, so the oldest goes first.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const value = compute();
  cache.set(key, value);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return value;
}

/** Reads sections, servers and default-server lines of a rendered config. Comments are ignored. */
export function parseConfig(config: string): ParsedConfig {
  return remember(parsedCache, config, () => parseConfigText(config));
}

function parseConfigText(config: string): ParsedConfig {
  const servers: ParsedServer[] = [];
  const backends: string[] = [];
  const singleWriter = new Set<string>();
  const defaultServer = new Map<string, readonly string[]>();
  let defaultsTokens: readonly string[] = [];
  let section = '';
  let sectionName = '';
  let serverStateFile: string | null = null;
  let serverStateBase: string | null = null;

  for (const line of config.split('\n')) {
    const tokens = tokensOf(line);
    const keyword = tokens[0];
    if (keyword === undefined) continue;
    if (SECTION_KEYWORDS.has(keyword)) {
      section = keyword;
      sectionName = tokens[1] ?? '';
      if (section === 'defaults') defaultsTokens = [];
      if (SERVER_SECTIONS.has(section)) {
        backends.push(sectionName);
        // The proxy starts from the defaults section's default-server; its own lines apply on top.
        defaultServer.set(sectionName, defaultsTokens);
      }
      continue;
    }
    if (SERVER_SECTIONS.has(section) && keyword === 'balance' && SINGLE_WRITER_COMMENT.test(line)) singleWriter.add(sectionName);
    if (section === 'global' && keyword === 'server-state-file') serverStateFile = tokens[1] ?? null;
    if (section === 'global' && keyword === 'server-state-base') serverStateBase = tokens[1] ?? null;
    if (keyword === 'default-server') {
      if (section === 'defaults') defaultsTokens = mergeServerOptions(defaultsTokens, tokens.slice(1));
      else if (SERVER_SECTIONS.has(section)) defaultServer.set(sectionName, mergeServerOptions(defaultServer.get(sectionName) ?? [], tokens.slice(1)));
    }
    if (keyword === 'server' && SERVER_SECTIONS.has(section)) {
      const server = parseServerLine(sectionName, tokens, defaultServer.get(sectionName) ?? []);
      if (server) servers.push(DRAINING_COMMENT.test(line) ? { ...server, draining: true } : server);
    }
  }
  return { servers, defaultServer, backends, singleWriter, serverStateFile, serverStateBase };
}

/** The managed servers of a rendered config, per listen/backend section. */
export function parseServers(config: string): ParsedServer[] {
  return [...parseConfig(config).servers];
}

/**
 * The config without what a runtime op can change: `server` lines in listen/backend sections, comments
 * (the generated header carries the etcd revision) and blank lines; whitespace is normalised. Two configs
 * with equal structure differ only in their servers, and each server's own options are compared apart
 * (see `serverOptionsKey`).
 */
export function structureOf(config: string): string {
  return remember(structureCache, config, () => structureText(config));
}

function structureText(config: string): string {
  const out: string[] = [];
  let section = '';
  for (const line of config.split('\n')) {
    const tokens = tokensOf(line);
    const keyword = tokens[0];
    if (keyword === undefined) continue;
    if (SECTION_KEYWORDS.has(keyword)) section = keyword;
    if (keyword === 'server' && SERVER_SECTIONS.has(section)) continue;
    out.push(tokens.join(' '));
  }
  return out.join('\n');
}
