import { readFileSync } from 'node:fs';
import { createRenderer, defaultTemplatePath, type Renderer } from '../render/render-config.js';
import { defaultVars, parseSetFlags } from '../render/template-vars.js';
import { writerHoldProblem } from '../model/choose-writer.js';
import { parseDurationFlag } from '../config/parse-values.js';
import { resolveEtcdOptions, type EtcdFlags } from '../source/etcd-options.js';
import { createApplier } from '../apply/runtime-applier.js';
import { createLiveConfig, type LiveConfig } from '../daemon/live-config.js';
import { createCostRecorder } from '../plan/apply-cost.js';
import type { ConfigRenderer, SyncDeps } from '../daemon/sync-pass.js';
import type { MultiPrefixSource } from '../source/multi-prefix-source.js';
import type { Applier } from '../apply/types.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import type { PipelineFlags, PipelineOptions } from '../config/daemon-options.js';
import { resolveSettings } from '../config/settings.js';
import type { ServiceSpec } from '../model/service.js';
import type { CliIO } from './io.js';
import { ConfigError, RenderError } from '../errors.js';
import { checkConfigPath, checkListenAddress, checkMasterSocket, checkTemplateFile } from '../config/start-checks.js';
import { HostResolver } from '../resolve/resolve-hosts.js';
import { createSystemLookup } from '../resolve/system-lookup.js';
import { implicitService } from '../render/implicit-service.js';
import { DEFAULT_SERVER_NAMING, type ServerNaming } from '../model/server-name.js';
import { WriterElection } from '../daemon/writer-election.js';
import type { WriterStore } from '../source/writer-store.js';
import { hostname } from 'node:os';

export type CommandFlags = PipelineFlags & EtcdFlags;

export interface TemplateSetup {
  readonly renderer: Renderer;
  readonly templatePath: string;
  readonly vars: Readonly<Record<string, string>>;
  /** The sections rendered: the config file's services, else the one implicit service of the variables. */
  readonly services: readonly ServiceSpec[];
}

/**
 * Builds the renderer from the template file, the variables and the services; called again when the
 * template or the config file changes. Without services in a config file, the one implicit Galera
 * service is built from the variables, so a `--set backend=…` names its section.
 */
export function setUpTemplate(options: PipelineOptions, configServices: readonly ServiceSpec[] | null): TemplateSetup {
  const custom = options.templatePath !== undefined;
  const vars = parseSetFlags([...options.setFlags], { customTemplate: custom });
  const templatePath = options.templatePath ?? defaultTemplatePath();
  const services = configServices ?? [implicitService(vars, { prefix: options.prefix, minServers: options.minServers })];
  const renderer = createRenderer({ templatePath, vars, services });
  // A template or fragment that uses a variable nobody set fails at every pass: say so now, as a bad
  // setting (the config file's `set:` or --set), not at the first change.
  try {
    renderer.render({ nodes: [], rejected: [], incomplete: [] }, { revision: '0' });
  } catch (err) {
    if (err instanceof RenderError && err.undefinedExpression !== undefined) {
      throw new ConfigError(`${err.message}: set it under "set:" in the config file or with --set ${err.undefinedExpression}=…`);
    }
  }
  return { renderer, templatePath, vars, services };
}

export interface Pipeline {
  readonly options: PipelineOptions;
  /** Absolute path of the config file read, or null. */
  readonly configFile: string | null;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly template: TemplateSetup;
  /**
   * Created on first use, so a `render --nodes` never opens an etcd connection nor loads the etcd
   * client (gRPC and protobuf: ~28 MB and a few hundred ms at start-up).
   */
  source(): Promise<MultiPrefixSource>;
  /** The services kept in step (the one implicit Galera service without a config file). */
  readonly services: readonly ServiceSpec[];
  readonly live: LiveConfig;
  readonly applier: Applier | null;
  /** Host names → IPs before the render, with the last good address of each name remembered. */
  readonly hosts: HostResolver;
  /** Template variable `server_names`, already validated. */
  readonly serverNames: ServerNaming;
  /** Single-writer records: followed by every command, proposed to only by `once` and `watch`. */
  readonly writers: WriterElection;
  /** Compare-and-swap of writer records; null for the commands that never write one. */
  readonly writerStore: WriterStore | null;
  syncDeps(renderer?: ConfigRenderer): SyncDeps;
  /** Closes what the pipeline opened besides the source (the writer record's etcd client). */
  close(): void;
}

/** What a command does with HAProxy: nothing (render), read it (plan), or change it (once, watch). */
export interface PipelineMode {
  readonly apply: boolean;
  /** Reads HAProxy's runtime for a plan, changes nothing: no reload way and no writable config needed. */
  readonly planOnly?: boolean;
  /** watch serves --status-listen. */
  readonly serveStatus?: boolean;
  /** May write single-writer records (once and watch do; switchover does, though it changes no HAProxy). */
  readonly recordWrites?: boolean;
}

/** Every path and address a flag names, checked before etcd is contacted (see config/start-checks). */
async function checkStartPaths(options: PipelineOptions, mode: PipelineMode, logger: Logger): Promise<void> {
  if (mode.apply && mode.planOnly !== true && options.masterSocket === undefined && options.reloadCmd === undefined) {
    throw new ConfigError('changing HAProxy needs --master-socket <path> (HAProxy started with -W -S <path>) or --reload-cmd <argv>');
  }
  if (options.templatePath !== undefined) await checkTemplateFile(options.templatePath);
  if (mode.apply && mode.planOnly !== true) await checkConfigPath(options.configPath);
  if (mode.apply && options.masterSocket !== undefined && !(await checkMasterSocket(options.masterSocket))) {
    logger.warn({ masterSocket: options.masterSocket }, 'the master socket does not exist yet; reloads will fail until HAProxy creates it');
  }
  if (mode.serveStatus === true && options.statusListen !== undefined) await checkListenAddress(options.statusListen, '--status-listen');
}

/**
 * The composition root: flags → validated options → every stage of the pipeline. `dry-run` (render) and
 * `once` are the same pipeline with the applier left out or run a single time.
 */
export async function composePipeline(flags: CommandFlags, io: CliIO, mode: PipelineMode): Promise<Pipeline> {
  const settings = resolveSettings(flags, io.env, { cwd: process.cwd(), readFile: (path) => readFileSync(path, 'utf8') });
  const { options } = settings;
  const logger = createLogger({ level: options.logLevel, stream: io.stderr });
  await checkStartPaths(options, mode, logger);
  const metrics = createMetrics();
  const template = setUpTemplate(options, settings.services);
  const etcd = resolveEtcdOptions(settings.etcd, io.env, (path: string) => readFileSync(path));
  let source: Promise<MultiPrefixSource> | null = null;
  const closers: (() => void)[] = [];
  // The daemon's own timings (checks here, runtime batches and reloads in the applier) choose between
  // the Runtime API and a reload.
  const costs = createCostRecorder();
  const live = createLiveConfig({ path: options.configPath, haproxyBin: options.haproxyBin, checkTimeoutMs: options.checkTimeoutMs, costs });
  const applier = mode.apply
    ? createApplier({
        statsSocket: options.statsSocket ?? template.vars['stats_socket'] ?? defaultVars()['stats_socket'] ?? '/run/haproxy/admin.sock',
        masterSocket: options.masterSocket,
        reloadCmd: options.reloadCmd ? [...options.reloadCmd] : undefined,
        minReloadIntervalMs: options.minReloadIntervalMs,
        drainTimeoutMs: options.drainTimeoutMs,
        confirmTimeoutMs: 15_000,
        runtimeApi: options.runtimeApi,
        maxRuntimeOps: options.maxRuntimeOps,
        costs,
        logger,
        // `plan` reads HAProxy and never changes it: it needs no way to reload.
        ...(mode.planOnly === true ? { reloader: { reload: () => Promise.reject(new Error('plan never reloads')) } } : {}),
      })
    : null;
  const serverNames = (template.vars['server_names'] ?? DEFAULT_SERVER_NAMING) as ServerNaming;
  const { services } = template;
  const hosts = new HostResolver({ lookup: createSystemLookup(options.hostsFile === undefined ? {} : { hostsFile: options.hostsFile }) });
  // Its own client, made on the first proposal: a pipeline with no single-writer service never makes one.
  let writerClient: Promise<WriterStore> | null = null;
  const store: WriterStore | null =
    mode.recordWrites === true || (mode.apply && mode.planOnly !== true)
      ? {
          swap: async (key, epoch, value) =>
            (await (writerClient ??= Promise.all([import('../source/etcd-writer.js'), import('../source/writer-store.js')]).then(([{ createEtcdClient }, { createEtcdWriterStore }]) => {
              const client = createEtcdClient(etcd);
              closers.push(() => client.close());
              return createEtcdWriterStore(() => client);
            }))).swap(key, epoch, value),
        }
      : null;
  const writers = new WriterElection({ store, proxyId: options.proxyId ?? hostname(), handoverMs: options.writerHandoverMs, metrics });
  // Only the default template is known to hold clients (a custom one may not render writer_hold at all).
  const hold = template.vars['writer_hold'] ?? defaultVars()['writer_hold'] ?? '';
  if (options.templatePath === undefined && services.some((s) => s.writer === 'single')) {
    const problem = writerHoldProblem(hold === '' ? null : parseDurationFlag(hold, 'writer_hold'), options.writerHandoverMs);
    if (problem !== null) logger.warn({ writerHold: hold, writerHandoverMs: options.writerHandoverMs }, problem);
  }
  return {
    options,
    configFile: settings.configFile,
    logger,
    metrics,
    template,
    source: () =>
      (source ??= import('../source/etcd-multi-source.js').then(({ createEtcdMultiSource }) =>
        createEtcdMultiSource(etcd, services.map((service) => service.prefix), logger),
      )),
    live,
    applier,
    hosts,
    serverNames,
    services,
    writers,
    writerStore: store,
    close: () => {
      for (const close of closers.splice(0)) close();
    },
    syncDeps(renderer = template.renderer): SyncDeps {
      return { services, renderer, live, applier, serverNames, hosts, logger, metrics, writers };
    },
  };
}
