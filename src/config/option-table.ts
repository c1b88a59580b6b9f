import { Option, type Command } from 'commander';
import { ETCD_DEFAULTS } from '../source/etcd-options.js';
import * as p from './parse-values.js';

/** The subcommands that read the option table (and the config file). */
export type CommandName = 'render' | 'plan' | 'once' | 'watch' | 'status' | 'drain' | 'undrain';

/** Options come in groups so a command can add the ones it shares with others in one call. */
export type OptionGroup = 'config' | 'etcd' | 'pipeline' | 'apply' | 'watch' | 'render';

export interface OptionDef<T> {
  readonly group: OptionGroup;
  readonly commands: readonly CommandName[];
  /** Placeholder of the value (`<n>`); absent for a switch. */
  readonly value?: string;
  /**
   * The default, written as it would be on the command line and parsed like any other value. The only
   * place a default is written: commander is given none, so the layers can tell "given" from "default".
   */
  readonly default?: string;
  /** What `--help` and the README say when there is no plain default value. */
  readonly defaultText?: string;
  /** One line for `--help` and the README. */
  readonly doc: string;
  readonly parse: p.ValueParser<T>;
  /**
   * A path, resolved against the config file's directory when written there; `command` only when it
   * contains a `/` (a bare name is looked up in PATH).
   */
  readonly path?: 'file' | 'command';
  /** The config file may give a YAML list: joined with commas, or kept as a JSON array (an argv). */
  readonly list?: 'comma' | 'json';
  /** A switch on by default: its flag is `--no-<name>`, with this help line (`--<name>` exists too, hidden). */
  readonly negated?: string;
  /** `--set`: repeatable; the file has its own `set:` map and no variable is read from the environment. */
  readonly repeatable?: true;
  /** Read from the environment as `GALERA_HAPROXY_<NAME>`. @default true */
  readonly env?: false;
  /** An older environment variable read after `GALERA_HAPROXY_<NAME>` (etcdctl's). */
  readonly alsoEnv?: string;
  /** A top-level key of the config file. @default true */
  readonly file?: false;
}

const ALL: readonly CommandName[] = ['render', 'plan', 'once', 'watch'];
// `plan` takes every flag of `once` (it plans what that `once` would do), though it never reloads.
const APPLY: readonly CommandName[] = ['plan', 'once', 'watch'];
const WATCH: readonly CommandName[] = ['watch'];
const RENDER: readonly CommandName[] = ['render'];
const NODES_FILE: readonly CommandName[] = ['render', 'plan'];
// status, drain and undrain read the same etcd, services and variables, and change no file.
const INSPECT: readonly CommandName[] = ['status', 'drain', 'undrain'];
const READS_ETCD: readonly CommandName[] = [...ALL, ...INSPECT];

/**
 * Every option of render, plan, once and watch: the flags, `--help`, the config file's top-level keys,
 * the environment variables and the README table are all made from this one table.
 */
export const OPTIONS = {
  'config-file': {
    group: 'config',
    commands: READS_ETCD,
    value: '<path>',
    defaultText: '/etc/galera-haproxy/config.yaml when it exists',
    doc: 'YAML file of options, template variables and services (see "Configuration file" in the README)',
    parse: p.printable,
    file: false,
  },
  'etcd-endpoints': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<urls>',
    default: ETCD_DEFAULTS.endpoints.join(','),
    doc: 'comma-separated etcd endpoints',
    parse: p.endpoints,
    list: 'comma',
    alsoEnv: 'ETCDCTL_ENDPOINTS',
  },
  'etcd-cacert': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<file>',
    doc: 'CA bundle to verify etcd',
    parse: p.printable,
    path: 'file',
    alsoEnv: 'ETCDCTL_CACERT',
  },
  'etcd-cert': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<file>',
    doc: 'client certificate for etcd',
    parse: p.printable,
    path: 'file',
    alsoEnv: 'ETCDCTL_CERT',
  },
  'etcd-key': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<file>',
    doc: 'client key for etcd',
    parse: p.printable,
    path: 'file',
    alsoEnv: 'ETCDCTL_KEY',
  },
  'etcd-user': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<name>',
    doc: 'etcd user; password from $GALERA_HAPROXY_ETCD_PASSWORD, $ETCDCTL_PASSWORD or --etcd-password-file',
    parse: p.printable,
    alsoEnv: 'ETCDCTL_USER',
  },
  'etcd-password-file': {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<file>',
    doc: 'file holding the etcd password',
    parse: p.printable,
    path: 'file',
  },
  prefix: {
    group: 'etcd',
    commands: READS_ETCD,
    value: '<prefix>',
    default: ETCD_DEFAULTS.prefix,
    doc: 'etcd prefix the Galera nodes register under (not with services: in the config file)',
    parse: p.prefix,
  },
  template: {
    group: 'pipeline',
    commands: ALL,
    value: '<file>',
    defaultText: 'the bundled templates/haproxy.cfg.njk',
    doc: 'nunjucks template to render instead of the bundled one',
    parse: p.printable,
    path: 'file',
  },
  set: {
    group: 'pipeline',
    commands: READS_ETCD,
    value: '<name=value>',
    doc: 'set a template variable (repeatable; see templates/README.md)',
    parse: p.printable,
    repeatable: true,
    env: false,
    file: false,
  },
  'haproxy-bin': {
    group: 'pipeline',
    commands: ALL,
    value: '<path>',
    default: 'haproxy',
    doc: 'haproxy binary used for `haproxy -c`',
    parse: p.printable,
    path: 'command',
  },
  'min-servers': {
    group: 'pipeline',
    commands: ALL,
    value: '<n>',
    default: '1',
    doc: 'never write a backend with fewer servers than this',
    parse: p.integer(0, 100_000),
  },
  'check-timeout': {
    group: 'pipeline',
    commands: ALL,
    value: '<duration>',
    default: '10s',
    doc: 'time limit for `haproxy -c` (more than 0)',
    parse: p.duration('rejected'),
  },
  'hosts-file': {
    group: 'pipeline',
    commands: ALL,
    value: '<file>',
    doc: 'hosts(5) file consulted before the system resolver for node host names (HAProxy is given IPs)',
    parse: p.printable,
    path: 'file',
  },
  'resolve-interval': {
    group: 'pipeline',
    commands: ALL,
    value: '<duration>',
    default: '10s',
    doc: 'how often node host names are resolved again (a changed address is one set server addr); 0 turns it off',
    parse: p.duration('off'),
  },
  'log-level': {
    group: 'pipeline',
    commands: ALL,
    value: '<level>',
    default: 'info',
    doc: 'fatal, error, warn, info, debug, trace or silent',
    parse: p.logLevel,
  },
  nodes: {
    group: 'render',
    commands: NODES_FILE,
    value: '<file>',
    doc: 'JSON object of etcd keys to values, instead of reading etcd',
    parse: p.printable,
    env: false,
    file: false,
  },
  check: {
    group: 'render',
    commands: RENDER,
    doc: 'run haproxy -c on the rendered config',
    parse: p.boolean,
    env: false,
    file: false,
  },
  config: {
    group: 'apply',
    commands: APPLY,
    value: '<file>',
    default: '/etc/haproxy/haproxy.cfg',
    doc: 'the haproxy.cfg to manage',
    parse: p.printable,
    path: 'file',
  },
  'master-socket': {
    group: 'apply',
    commands: APPLY,
    value: '<path>',
    doc: 'HAProxy master CLI socket (haproxy -W -S <path>); reloads go through it (this or --reload-cmd is required)',
    parse: p.printable,
    path: 'file',
  },
  'stats-socket': {
    group: 'apply',
    commands: [...APPLY, 'status'],
    value: '<path>',
    defaultText: 'the template variable stats_socket',
    doc: 'admin stats socket for the Runtime API',
    parse: p.printable,
    path: 'file',
  },
  'reload-cmd': {
    group: 'apply',
    commands: APPLY,
    value: '<argv>',
    doc: 'reload command instead of the master CLI: words or a JSON array, run without a shell (this or --master-socket is required)',
    parse: p.reloadCmd,
    list: 'json',
  },
  'min-reload-interval': {
    group: 'apply',
    commands: APPLY,
    value: '<duration>',
    default: '2s',
    doc: 'minimum gap between two reloads',
    parse: p.duration('allowed'),
  },
  'drain-timeout': {
    group: 'apply',
    commands: APPLY,
    value: '<duration>',
    default: '30s',
    doc: 'how long a removed server drains before its sessions are shut down',
    parse: p.duration('allowed'),
  },
  'runtime-api': {
    group: 'apply',
    commands: APPLY,
    default: 'true',
    doc: 'server changes through the Runtime API; false: every change by a confirmed reload (HAProxy without dynamic servers)',
    parse: p.boolean,
    negated: 'apply every change by a confirmed reload (HAProxy without dynamic servers)',
  },
  'max-runtime-ops': {
    group: 'apply',
    commands: APPLY,
    value: '<n>',
    default: '100000',
    doc: 'upper bound: a change touching more servers than this is always one reload; below it, the Runtime API (pipelined batches) or a reload is chosen by estimated cost, from the daemon\'s own recent timings',
    parse: p.integer(0, 1_000_000),
  },
  'proxy-id': {
    group: 'apply',
    commands: APPLY,
    value: '<id>',
    defaultText: 'the host name',
    doc: "who this proxy is in a single-writer service's etcd writer record (the `by` of a proposal); one per HAProxy",
    parse: p.proxyId,
  },
  'writer-handover': {
    group: 'apply',
    commands: APPLY,
    value: '<duration>',
    default: '1s',
    doc: 'single writer: after the etcd record moves from one writer to another, writes wait this long before the new writer takes them (every proxy drops the old one first; new clients wait in HAProxy meanwhile, up to the template\'s writer_hold, and the sessions left on the old writer are cut when the new one comes in)',
    parse: p.duration('allowed'),
  },
  wait: {
    group: 'watch',
    commands: WATCH,
    value: '<min:max>',
    default: '10ms:100ms',
    doc: 'debounce: an idle daemon applies the first change at once; changes during a pass or within MIN after one wait until quiet for MIN, never past the first of them + MAX',
    parse: p.wait,
  },
  resync: {
    group: 'watch',
    commands: WATCH,
    value: '<duration>',
    default: '5m',
    doc: 'interval of the etcd full re-read compared with the mirror (a safety net); 0 turns it off',
    parse: p.duration('off'),
  },
  'repair-interval': {
    group: 'watch',
    commands: WATCH,
    value: '<duration>',
    default: '5s',
    doc: "how often HAProxy's runtime is compared with the file and drift repaired (2 socket requests); 0 turns it off",
    parse: p.duration('off'),
  },
  'status-listen': {
    group: 'watch',
    commands: WATCH,
    value: '<host:port>',
    doc: 'serve /healthz, /status and /metrics (Prometheus) on this address',
    parse: p.printable,
  },
  'stale-after': {
    group: 'watch',
    commands: WATCH,
    value: '<duration>',
    default: '30s',
    doc: '/healthz turns 503 when etcd has been silent this long',
    parse: p.duration('rejected'),
  },
} as const satisfies Record<string, OptionDef<unknown>>;

export type OptionName = keyof typeof OPTIONS;
type Def<K extends OptionName> = (typeof OPTIONS)[K];
export type OptionValue<K extends OptionName> = ReturnType<Def<K>['parse']>;

/** Resolved values: an option with a default always has one. */
export type OptionValues = {
  readonly [K in OptionName]: Def<K> extends { readonly default: string } ? OptionValue<K> : OptionValue<K> | undefined;
};

export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

export function optionDef(name: OptionName): OptionDef<unknown> {
  return OPTIONS[name];
}

/** `min-servers` → `GALERA_HAPROXY_MIN_SERVERS`, or null for an option not read from the environment. */
export function envName(name: OptionName): string | null {
  return optionDef(name).env === false ? null : `GALERA_HAPROXY_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** The key commander stores a flag under: `min-servers` → `minServers`. */
export function attributeName(name: OptionName): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flag as a user types it: `--min-servers <n>`, `--no-runtime-api`, `--check`. */
export function flagText(name: OptionName): string {
  const d = optionDef(name);
  if (d.negated) return `--no-${name}`;
  return d.value === undefined ? `--${name}` : `--${name} ${d.value}`;
}

/** The default as `--help` and the README show it, or null. */
export function defaultText(name: OptionName): string | null {
  const d = optionDef(name);
  return d.defaultText ?? d.default ?? null;
}

export function optionsOf(command: CommandName): OptionName[] {
  return OPTION_NAMES.filter((name) => optionDef(name).commands.includes(command));
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Adds the flags of `group` that `command` has. No commander default is set (a negated switch gets its
 * hidden positive twin for the same reason): an absent flag stays undefined, so the config file and the
 * environment underneath it can still be seen.
 */
export function addOptionFlags(cmd: Command, command: CommandName, group: OptionGroup): Command {
  for (const name of OPTION_NAMES) {
    const d = optionDef(name);
    if (d.group !== group || !d.commands.includes(command)) continue;
    if (d.negated !== undefined) {
      cmd.addOption(new Option(`--${name}`).hideHelp());
      cmd.addOption(new Option(`--no-${name}`, d.negated));
      continue;
    }
    const fallback = d.value === undefined ? null : defaultText(name);
    const notes = [fallback === null ? null : `default: ${fallback}`, d.alsoEnv === undefined ? null : `also $${d.alsoEnv}`].filter((n) => n !== null);
    const option = new Option(flagText(name), notes.length === 0 ? d.doc : `${d.doc} (${notes.join('; ')})`);
    if (d.repeatable) option.argParser(collect);
    cmd.addOption(option);
  }
  return cmd;
}
