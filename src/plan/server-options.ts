/**
 * Server keywords as HAProxy applies them: a proxy's `default-server` lines are parsed on top of the
 * `defaults` section's, and a `server` line on top of its proxy's, so a later keyword replaces an
 * earlier one of the same name and `no-check` undoes `check`. A flat token list loses that: a
 * `default-server weight 10` in the backend would otherwise hide the `check` of `defaults`.
 */

/** One keyword with its arguments, e.g. `inter 500ms` or `check`. */
export interface ServerOption {
  readonly keyword: string;
  readonly args: readonly string[];
}

/** Keywords without argument (HAProxy 2.6 to 3.x `srv_kws` tables). */
const FLAGS = new Set([
  'agent-check', 'allow-0rtt', 'backup', 'check', 'check-send-proxy', 'check-ssl', 'check-via-socks4', 'disabled', 'enabled',
  'force-sslv3', 'force-tlsv10', 'force-tlsv11', 'force-tlsv12', 'force-tlsv13', 'non-stick', 'send-proxy', 'send-proxy-v2',
  'send-proxy-v2-ssl', 'send-proxy-v2-ssl-cn', 'ssl', 'ssl-reuse', 'stick', 'tfo', 'tls-tickets', 'no-sslv3', 'no-tlsv10',
  'no-tlsv11', 'no-tlsv12', 'no-tlsv13', 'no-ssl-reuse', 'no-tls-tickets', 'strict-maxconn',
]);

/** Keywords with exactly one argument. */
const WITH_VALUE = new Set([
  'addr', 'agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'ca-file', 'check-alpn', 'check-proto', 'check-sni',
  'ciphers', 'ciphersuites', 'client-sigalgs', 'cookie', 'crl-file', 'crt', 'curves', 'downinter', 'error-limit', 'fall',
  'fastinter', 'guid', 'hash-key', 'id', 'idle-ping', 'init-addr', 'inter', 'log-bufsize', 'log-proto', 'max-reuse', 'maxconn',
  'maxqueue', 'minconn', 'namespace', 'npn', 'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-conn-name',
  'pool-low-conn', 'pool-max-conn', 'pool-purge-delay', 'port', 'proto', 'proxy-v2-options', 'redir', 'resolve-net',
  'resolve-opts', 'resolve-prefer', 'resolvers', 'rise', 'shard', 'sigalgs', 'slowstart', 'sni', 'socks4', 'ssl-max-ver',
  'ssl-min-ver', 'tcp-ut', 'track', 'verify', 'verifyhost', 'weight', 'ws',
]);

/** `source <addr>[:<port>] [usesrc <addr>] [interface <name>]`: the only keyword with optional arguments. */
const SOURCE_SUFFIXES = new Set(['usesrc', 'interface']);

/** Negations that switch a setting back to HAProxy's default: the pair leaves nothing to pass on. */
const RESETS: Readonly<Record<string, string>> = {
  'no-agent-check': 'agent-check',
  'no-backup': 'backup',
  'no-check': 'check',
  'no-check-send-proxy': 'check-send-proxy',
  'no-check-ssl': 'check-ssl',
  'no-send-proxy': 'send-proxy',
  'no-send-proxy-v2': 'send-proxy-v2',
  'no-send-proxy-v2-ssl': 'send-proxy-v2-ssl',
  'no-send-proxy-v2-ssl-cn': 'send-proxy-v2-ssl-cn',
  'no-ssl': 'ssl',
  'no-tfo': 'tfo',
  'no-verifyhost': 'verifyhost',
  enabled: 'disabled',
  stick: 'non-stick',
};

/** Opposites of settings that are on by default: the last of the pair is kept as written. */
const SAME_SETTING: Readonly<Record<string, string>> = { 'no-ssl-reuse': 'ssl-reuse', 'no-tls-tickets': 'tls-tickets' };

const isKnown = (token: string): boolean => FLAGS.has(token) || WITH_VALUE.has(token) || token in RESETS || token === 'source';

/**
 * Splits server tokens into keywords with their arguments. An unknown keyword takes the tokens up to
 * the next known keyword, so a keyword newer than this table still travels with its value.
 */
export function groupServerOptions(tokens: readonly string[]): ServerOption[] {
  const out: ServerOption[] = [];
  let i = 0;
  while (i < tokens.length) {
    const keyword = tokens[i] ?? '';
    i += 1;
    const args: string[] = [];
    if (WITH_VALUE.has(keyword)) {
      if (i < tokens.length) args.push(tokens[i++] ?? '');
    } else if (keyword === 'source') {
      if (i < tokens.length) args.push(tokens[i++] ?? '');
      while (i + 1 < tokens.length && SOURCE_SUFFIXES.has(tokens[i] ?? '')) args.push(tokens[i++] ?? '', tokens[i++] ?? '');
    } else if (!isKnown(keyword)) {
      while (i < tokens.length && !isKnown(tokens[i] ?? '')) args.push(tokens[i++] ?? '');
    }
    out.push({ keyword, args });
  }
  return out;
}

/**
 * Merges server keyword lists in the order HAProxy applies them (`defaults`, then the proxy's
 * `default-server` lines, then the `server` line): the last keyword of a name wins, a negation removes
 * what it negates. Returns tokens ready for `add server`, each kept keyword at its last position.
 */
export function mergeServerOptions(...lists: readonly (readonly string[])[]): string[] {
  const merged = new Map<string, ServerOption | null>();
  for (const option of lists.flatMap(groupServerOptions)) {
    const reset = RESETS[option.keyword];
    const setting = reset ?? SAME_SETTING[option.keyword] ?? option.keyword;
    merged.delete(setting);
    merged.set(setting, reset === undefined ? option : null);
  }
  return [...merged.values()].flatMap((o) => (o === null ? [] : [o.keyword, ...o.args]));
}
