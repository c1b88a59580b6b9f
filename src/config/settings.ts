import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { ServiceSpec } from '../model/service.js';
import { validateVars } from '../render/template-vars.js';
import type { EtcdFlags } from '../source/etcd-options.js';
import { DEFAULT_CONFIG_FILE, fileError, loadConfigFile, type ConfigFile, type FileVar, type ReadTextFile } from './config-file.js';
import type { PipelineOptions } from './daemon-options.js';
import { OPTION_NAMES, attributeName, envName, optionDef, type OptionName, type OptionValues } from './option-table.js';

/** What the command runs with, every layer applied: table defaults < config file < environment < flags. */
export interface Settings {
  readonly options: PipelineOptions;
  /** The services of the config file, every default applied; null without a file or without `services:`. */
  readonly services: readonly ServiceSpec[] | null;
  /** Template variables as `name=value`: the file's `set`, then `set-from-file`, then `--set` (the last wins). */
  readonly setFlags: readonly string[];
  /** Absolute path of the config file read, or null. */
  readonly configFile: string | null;
  /** The etcd flags after layering, for `resolveEtcdOptions` (which still reads the password variables). */
  readonly etcd: EtcdFlags;
}

export interface SettingsDeps {
  /** Anchors a relative `--config-file`. */
  readonly cwd: string;
  readonly readFile: ReadTextFile;
  /** Read when it exists and no file is named. @default "/etc/galera-haproxy/config.yaml" */
  readonly defaultConfigFile?: string;
}

/** The sources of option values, lowest first; each may be missing. */
export interface Layers {
  readonly file?: ConfigFile | null;
  readonly env?: NodeJS.ProcessEnv;
  /** commander's option values (camelCase), only those given on the command line. */
  readonly flags?: object;
}

function flagValue(flags: object | undefined, name: OptionName): string | undefined {
  const value: unknown = flags === undefined ? undefined : (flags as Record<string, unknown>)[attributeName(name)];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  throw new ConfigError(`--${name}: unexpected value ${JSON.stringify(value)}`);
}

function envValue(env: NodeJS.ProcessEnv | undefined, name: OptionName): { text: string; label: string } | undefined {
  // An empty variable counts as unset: containers and units often define a variable to nothing.
  for (const variable of [envName(name), optionDef(name).alsoEnv]) {
    const text = variable === null || variable === undefined ? undefined : env?.[variable];
    if (variable && text !== undefined && text !== '') return { text, label: variable };
  }
  return undefined;
}

/** Each option's value from the highest layer that gives it, parsed by the table; errors name their source. */
export function resolveOptionValues(layers: Layers): OptionValues {
  const values: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const d = optionDef(name);
    if (d.repeatable) continue;
    const flag = flagValue(layers.flags, name);
    const env = d.env === false ? undefined : envValue(layers.env, name);
    const fromFile = layers.file?.options[name];
    if (flag !== undefined) values[name] = d.parse(flag, `--${name}`);
    else if (env !== undefined) values[name] = d.parse(env.text, env.label);
    else if (fromFile !== undefined) values[name] = fromFile.value;
    else if (d.default !== undefined) values[name] = d.parse(d.default, `--${name}`);
  }
  return values as OptionValues;
}

/** The pipeline's options from resolved values. */
export function toPipelineOptions(v: OptionValues, setFlags: readonly string[]): PipelineOptions {
  return {
    prefix: v.prefix,
    configPath: v.config,
    templatePath: v.template,
    setFlags,
    masterSocket: v['master-socket'],
    statsSocket: v['stats-socket'],
    reloadCmd: v['reload-cmd'],
    haproxyBin: v['haproxy-bin'],
    wait: v.wait,
    minServers: v['min-servers'],
    logLevel: v['log-level'],
    resyncMs: v.resync,
    minReloadIntervalMs: v['min-reload-interval'],
    drainTimeoutMs: v['drain-timeout'],
    checkTimeoutMs: v['check-timeout'],
    runtimeApi: v['runtime-api'],
    maxRuntimeOps: v['max-runtime-ops'],
    hostsFile: v['hosts-file'],
    resolveIntervalMs: v['resolve-interval'],
    repairIntervalMs: v['repair-interval'],
    statusListen: v['status-listen'],
    staleAfterMs: v['stale-after'],
    proxyId: v['proxy-id'],
    writerHandoverMs: v['writer-handover'],
  };
}

function setFlagsOf(flags: object): string[] {
  const value: unknown = (flags as Record<string, unknown>)['set'];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) throw new ConfigError('--set: expected name=value');
  return value;
}

/** The config file named by `--config-file` or its variable, else the default one when it exists. */
function readConfig(flags: object, env: NodeJS.ProcessEnv, deps: SettingsDeps): ConfigFile | null {
  const named =
    flagValue(flags, 'config-file') !== undefined
      ? { text: flagValue(flags, 'config-file') ?? '', label: '--config-file' }
      : envValue(env, 'config-file');
  if (named === undefined) {
    return loadConfigFile(deps.defaultConfigFile ?? DEFAULT_CONFIG_FILE, deps.readFile, { label: 'config file', optional: true });
  }
  const text = optionDef('config-file').parse(named.text, named.label) as string;
  return loadConfigFile(isAbsolute(text) ? text : resolve(deps.cwd, text), deps.readFile, { label: named.label, optional: false });
}

/** Checks a file's variable as `--set` would, with the file's line instead of the flag (and no secret quoted). */
function checkFileVar(file: string, v: FileVar, customTemplate: boolean): void {
  try {
    validateVars({ [v.name]: v.value }, { customTemplate });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    let reason = err.message;
    for (const head of [`--set ${v.name}=${JSON.stringify(v.value)}`, `--set ${JSON.stringify(v.name)}`, `--set ${v.name}`]) {
      if (reason.startsWith(head)) {
        reason = reason.slice(head.length).replace(/^:?\s*/, '');
        break;
      }
    }
    if (v.secret && reason.includes(v.value)) reason = 'the value in the file is not valid for this variable';
    throw fileError(file, v.line, [v.key], reason);
  }
}

/**
 * Resolves every option of render, plan, once and watch: table defaults < config file < environment
 * (`GALERA_HAPROXY_<NAME>`, then `ETCDCTL_*` for etcd) < flags. Throws a one-line ConfigError.
 */
export function resolveSettings(flags: object, env: NodeJS.ProcessEnv, deps: SettingsDeps): Settings {
  const file = readConfig(flags, env, deps);
  const values = resolveOptionValues({ file, env, flags });
  if (file?.services) {
    // Each service names its own prefix; a global one next to them would be silently ignored.
    const why = 'cannot be used with services: (each service names its prefix)';
    if (flagValue(flags, 'prefix') !== undefined) throw new ConfigError(`--prefix ${why} in ${file.path}`);
    const fromEnv = envValue(env, 'prefix');
    if (fromEnv !== undefined) throw new ConfigError(`${fromEnv.label} ${why} in ${file.path}`);
    const inFile = file.options.prefix;
    if (inFile !== undefined) throw fileError(file.path, inFile.line, ['prefix'], why);
  }
  for (const v of file?.vars ?? []) checkFileVar(file?.path ?? '', v, values.template !== undefined);
  const setFlags = [...(file?.vars ?? []).map((v) => `${v.name}=${v.value}`), ...setFlagsOf(flags)];
  return {
    options: toPipelineOptions(values, setFlags),
    services: file?.services?.map((s) => ({ ...s, minServers: s.minServers ?? values['min-servers'] })) ?? null,
    setFlags,
    configFile: file?.path ?? null,
    etcd: {
      etcdEndpoints: values['etcd-endpoints'],
      etcdCacert: values['etcd-cacert'],
      etcdCert: values['etcd-cert'],
      etcdKey: values['etcd-key'],
      etcdUser: values['etcd-user'],
      etcdPasswordFile: values['etcd-password-file'],
      prefix: values.prefix,
      resyncMs: values.resync,
    },
  };
}

