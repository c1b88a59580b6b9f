import { ConfigError } from '../errors.js';
import { DEFAULT_SERVER_NAMING, SERVER_NAMINGS } from '../model/server-name.js';

/** Checks one value; returns a reason (without the variable name) or null when the value is fine. */
type Validator = (value: string) => string | null;

export interface TemplateVar {
  readonly default: string;
  /** One line for `--help` and templates/README.md. */
  readonly doc: string;
  readonly validate: Validator;
}

const DURATION = /^\d+(us|ms|s|m|h|d)?$/;
const duration: Validator = (v) => (DURATION.test(v) ? null : 'must be a duration such as 500ms, 2s, 30m or 8h');

const integer =
  (min: number, max: number): Validator =>
  (v) =>
    /^(0|[1-9]\d*)$/.test(v) && Number(v) >= min && Number(v) <= max ? null : `must be an integer in ${min}-${max}`;

const absolutePath: Validator = (v) =>
  /^\/[A-Za-z0-9_./@+-]*$/.test(v) ? null : 'must be an absolute path of letters, digits and _ . / @ + -';

const port: Validator = (v) => integer(1, 65535)(v) && 'must be a port number in 1-65535';

/**
 * A `bind` address: `host:port`, `[ipv6]:port`, `:port` or `*:port` (all addresses), with an optional
 * port range `port-port`. Deliberately narrower than HAProxy's syntax: `bind` options stay in the template.
 */
const bindAddress: Validator = (v) => {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*|\*):(\d+)(?:-(\d+))?$/.exec(v);
  if (!match) return 'must be an address such as 0.0.0.0:3306, [::]:3306, :3306 or 127.0.0.1:3306';
  const ports = [match[2], match[3]].filter((p): p is string => p !== undefined);
  return ports.every((p) => port(p) === null) ? null : 'has a port outside 1-65535';
};
const optional =
  (inner: Validator): Validator =>
  (v) =>
    v === '' ? null : inner(v);

/** Printable ASCII without `#` or quotes: safe anywhere in a config line. */
const plainText: Validator = (v) =>
  /^[\x20-\x7e]*$/.test(v) && !/[#"'\\]/.test(v) ? null : 'must be printable ASCII without # quotes or backslashes';

/**
 * Variables of the default template, settable with `--set name=value`. Keep templates/README.md in step.
 * Timeouts suit MySQL: a client or server may sit idle between queries for as long as MySQL's own
 * `wait_timeout` (8 hours by default), so HAProxy must not cut such connections earlier; connect stays
 * short so a dead node is skipped quickly (`retries` + `option redispatch`).
 */
export const TEMPLATE_VARS = {
  listen: { default: '0.0.0.0:3306', doc: 'bind address of the Galera listener', validate: bindAddress },
  stats_socket: { default: '/run/haproxy/admin.sock', doc: 'admin Runtime API socket path', validate: absolutePath },
  check_port: { default: '9200', doc: 'port of the clustercheck HTTP health check on each node', validate: port },
  backend: {
    default: 'galera',
    doc: 'name of the listen section holding the servers',
    validate: (v) => (/^[A-Za-z0-9_.:-]{1,64}$/.test(v) ? null : 'must be 1-64 characters of [A-Za-z0-9_.:-]'),
  },
  maxconn: { default: '4096', doc: 'global and per-listener connection limit', validate: integer(1, 1_000_000) },
  timeout_connect: { default: '5s', doc: 'time to establish a TCP connection to a node', validate: duration },
  timeout_client: { default: '8h', doc: 'client-side idle timeout (MySQL wait_timeout default)', validate: duration },
  timeout_server: { default: '8h', doc: 'server-side idle timeout (MySQL wait_timeout default)', validate: duration },
  timeout_check: { default: '2s', doc: 'time a health check may take once connected', validate: duration },
  check_inter: { default: '2s', doc: 'interval between health checks', validate: duration },
  rise: { default: '2', doc: 'consecutive passed checks before a node gets traffic', validate: integer(1, 100) },
  fall: { default: '3', doc: 'consecutive failed checks before a node is taken out', validate: integer(1, 100) },
  server_state_file: {
    default: '/var/lib/haproxy/server-state',
    doc: 'file HAProxy reloads server states from (written before each reload)',
    validate: absolutePath,
  },
  hard_stop_after: { default: '30m', doc: 'longest an old worker may keep sessions after a reload', validate: duration },
  stats_listen: { default: '', doc: 'bind address of the HTTP stats page; empty = none', validate: optional(bindAddress) },
  writer: {
    default: 'multi',
    doc: "multi = every node takes writes (leastconn); single = one writer, the node the service's etcd writer record names (every other server weight 0 in the write listener)",
    validate: (v) => (v === 'multi' || v === 'single' ? null : 'must be "multi" or "single"'),
  },
  writer_hold: {
    default: '2s',
    doc: 'single writer: how long a new connection waits for a writer when the write listener has none (the handover, a writer DOWN until the record moves) before it is sent on, instead of being refused at once; keep it above --writer-handover; empty = no wait',
    validate: optional(duration),
  },
  on_marked_down: {
    default: 'shutdown-sessions',
    doc: 'what happens to open sessions of a node marked down: shutdown-sessions cuts them at once (a crashed or isolated node), none leaves them (a donor keeps serving what it has)',
    validate: (v) => (v === 'shutdown-sessions' || v === 'none' ? null : 'must be "shutdown-sessions" or "none"'),
  },
  server_names: {
    default: DEFAULT_SERVER_NAMING,
    doc: 'how servers are named: host = the node\'s registered host (else a short form of its id), id = the node id as registered',
    validate: (v) => ((SERVER_NAMINGS as readonly string[]).includes(v) ? null : `must be ${SERVER_NAMINGS.map((n) => `"${n}"`).join(' or ')}`),
  },
  read_listen: { default: '', doc: 'bind address of a second, read-only listener; empty = none', validate: optional(bindAddress) },
  log_target: {
    default: '',
    doc: 'HAProxy log target, e.g. "/dev/log local0" or "stdout format raw local0"; empty = no logging',
    validate: plainText,
  },
} as const satisfies Record<string, TemplateVar>;

export type TemplateVarName = keyof typeof TEMPLATE_VARS;

/** Names the renderer itself puts in the context; a `--set` may not shadow them. */
export const RESERVED_NAMES: readonly string[] = ['nodes', 'origin', 'revision', 'servers'];

export function knownVarNames(): TemplateVarName[] {
  return Object.keys(TEMPLATE_VARS) as TemplateVarName[];
}

/** Every default, as the context the default template expects. */
export function defaultVars(): Record<string, string> {
  return Object.fromEntries(knownVarNames().map((name) => [name, TEMPLATE_VARS[name].default]));
}

/**
 * Parses `--set name=value` flags. With the default template an unknown name is a typo and is refused
 * (listing the known ones); with a custom template extra names are allowed but must be plain printable
 * text. Known names are validated in both cases. Throws {@link ConfigError} with one line naming the variable.
 */
export function parseSetFlags(flags: readonly string[], options: { customTemplate: boolean }): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${JSON.stringify(flag)}: expected name=value`);
    const name = flag.slice(0, eq);
    const value = flag.slice(eq + 1);
    vars[name] = value;
  }
  validateVars(vars, options);
  return vars;
}

/** Validates variables given by a caller (flags, a config file); see {@link parseSetFlags}. */
export function validateVars(vars: Record<string, string>, options: { customTemplate: boolean }): void {
  for (const [name, value] of Object.entries(vars)) {
    if (RESERVED_NAMES.includes(name)) {
      throw new ConfigError(`--set ${name}: the name is reserved for the renderer (${RESERVED_NAMES.join(', ')})`);
    }
    const known = (TEMPLATE_VARS as Record<string, TemplateVar>)[name];
    if (known === undefined) {
      if (!options.customTemplate) {
        throw new ConfigError(`--set ${name}: unknown variable for the default template (known: ${knownVarNames().join(', ')})`);
      }
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new ConfigError(`--set ${JSON.stringify(name)}: a variable name must be letters, digits and _`);
      }
      const reason = plainText(value);
      if (reason !== null) throw new ConfigError(`--set ${name}=${JSON.stringify(value)}: ${reason}`);
      continue;
    }
    const reason = known.validate(value);
    if (reason !== null) throw new ConfigError(`--set ${name}=${JSON.stringify(value)}: ${reason}`);
  }
}
