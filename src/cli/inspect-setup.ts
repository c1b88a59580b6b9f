import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveSettings } from '../config/settings.js';
import { addOptionFlags, type CommandName } from '../config/option-table.js';
import { ConfigError } from '../errors.js';
import type { ServiceSpec } from '../model/service.js';
import { DEFAULT_SERVER_NAMING, type ServerNaming } from '../model/server-name.js';
import { implicitService } from '../render/implicit-service.js';
import { defaultVars, parseSetFlags } from '../render/template-vars.js';
import { resolveEtcdOptions, type EtcdFlags, type EtcdSourceOptions } from '../source/etcd-options.js';
import type { CliIO } from './io.js';

/** What status, drain and undrain need: the services with their prefixes, how to reach etcd and HAProxy. */
export interface InspectSetup {
  readonly services: readonly ServiceSpec[];
  readonly etcd: EtcdSourceOptions;
  readonly statsSocket: string;
  /** How the daemon names servers (`server_names`), so node names here match HAProxy's. */
  readonly serverNames: ServerNaming;
}

export interface InspectFlags extends EtcdFlags {
  readonly service?: string;
}

/** `--config-file`, the etcd flags, `--set` and `--service`, as the pipeline commands take them. */
export function addInspectFlags(cmd: Command, command: CommandName): Command {
  for (const group of ['config', 'etcd', 'pipeline', 'apply'] as const) addOptionFlags(cmd, command, group);
  return cmd.option('--service <name>', 'only this service (a section of the config file); default: every service');
}

/**
 * The same layering as render/plan/once/watch (defaults < config file < environment < flags), so an
 * operator's command reads the etcd and the services the daemon reads.
 */
export function resolveInspectSetup(flags: InspectFlags, io: CliIO): InspectSetup {
  const settings = resolveSettings(flags, io.env, { cwd: process.cwd(), readFile: (path) => readFileSync(path, 'utf8') });
  const { options } = settings;
  const vars = { ...defaultVars(), ...parseSetFlags([...settings.setFlags], { customTemplate: options.templatePath !== undefined }) };
  const all = settings.services ?? [implicitService(vars, { prefix: options.prefix, minServers: options.minServers })];
  const services = flags.service === undefined ? all : all.filter((s) => s.name === flags.service);
  if (services.length === 0) {
    throw new ConfigError(`--service ${JSON.stringify(flags.service)}: no such service (known: ${all.map((s) => s.name).join(', ')})`);
  }
  return {
    services,
    etcd: resolveEtcdOptions(settings.etcd, io.env, (path) => readFileSync(path)),
    statsSocket: options.statsSocket ?? vars['stats_socket'] ?? '/run/haproxy/admin.sock',
    serverNames: (vars['server_names'] ?? DEFAULT_SERVER_NAMING) as ServerNaming,
  };
}
