import { Command } from 'commander';
import { WatchLoop } from '../daemon/watch-loop.js';
import { watchFileContent, type FileContentWatch } from '../daemon/file-content-watch.js';
import { describeError } from '../errors.js';
import type { CliIO } from './io.js';
import { describeSignals, handleControlSignals } from './control-signals.js';
import { addCommandFlags, USAGE_EXAMPLES } from './pipeline-flags.js';
import { composePipeline, setUpTemplate, type CommandFlags } from './compose-pipeline.js';
import type { ConfigRenderer, SyncResult } from '../daemon/sync-pass.js';
import { startStatusServer, type ServiceStatus, type StatusReport } from '../observe/status-server.js';
import type { ServiceSpec } from '../model/service.js';
import type { ClusterState } from '../model/types.js';
import { readFileSync } from 'node:fs';
import { resolveSettings } from '../config/settings.js';
import { describeServiceChanges, restartOnlyChanges } from '../config/settings-change.js';

/** How often the template is looked at besides its file system events (a stat; a hash when it changed). */
const TEMPLATE_CHECK_MS = 2_000;
/** How long SIGTERM waits for a pass in flight before the process exits anyway. */
const STOP_GRACE_MS = 700;

export function createWatchCommand(io: CliIO): Command {
  const cmd = new Command('watch').description(
    'The daemon: mirror the prefix (snapshot, then watch), debounce, and keep HAProxy in step until SIGTERM/SIGINT.',
  );
  cmd.addHelpText('after', USAGE_EXAMPLES);
  addCommandFlags(cmd, 'watch')
    .addHelpText('after', describeSignals('load the template again and run a pass'));
  return cmd.action(async (flags: CommandFlags) => {
    // --stale-after 0 is refused with the other options (option table): /healthz could never say 200.
    const pipeline = await composePipeline(flags, io, { apply: true, serveStatus: true });
    const { logger, options } = pipeline;
    // The renderer is swapped when the template file changes, so a fixed template heals a broken one.
    let renderer: ConfigRenderer = pipeline.template.renderer;
    const swappable: ConfigRenderer = { render: (state: ClusterState, meta) => renderer.render(state, meta) };
    const loop = new WatchLoop(await pipeline.source(), pipeline.syncDeps(swappable), {
      wait: pipeline.options.wait,
      repairMs: options.repairIntervalMs,
      retryMinMs: 500,
      retryMaxMs: 30_000,
      resolveMs: pipeline.options.resolveIntervalMs,
    });
    const source = await pipeline.source();
    // What an edited config file may change while running: the options a pass reads and the services.
    let current = { options: pipeline.options, template: pipeline.template };
    let configRejected: string | undefined;
    const reloadTemplate = (why: 'file changed' | 'SIGHUP'): void => {
      try {
        current = { ...current, template: setUpTemplate(current.options, pipeline.configFile === null ? null : current.template.services) };
        renderer = current.template.renderer;
        logger.info({ template: current.template.templatePath, why }, why === 'SIGHUP' ? 'template read again on SIGHUP; re-rendering' : 'template changed; re-rendering');
      } catch (err) {
        logger.error({ template: current.template.templatePath, why, err: describeError(err) }, 'template changed but cannot be loaded; keeping the previous one');
        return;
      }
      loop.poke();
    };
    /**
     * An edited config file is read and checked as a whole; refused (file:line in the log, /healthz 503),
     * the running config stays. Accepted, the services and the variables take effect in the next pass
     * (a new section or listener by a confirmed reload, servers by the Runtime API); options wired at
     * start-up are named and wait for a restart.
     */
    // One reading at a time: an edit and a SIGHUP together must not interleave their prefix changes.
    let configReading: Promise<void> = Promise.resolve();
    const reloadConfigFile = (why: 'file changed' | 'SIGHUP'): Promise<void> => (configReading = configReading.then(() => readConfigFile(why)));
    const readConfigFile = async (why: 'file changed' | 'SIGHUP'): Promise<void> => {
      const path = pipeline.configFile;
      if (path === null) return;
      let next: { options: typeof current.options; template: typeof current.template };
      try {
        const settings = resolveSettings(flags, io.env, { cwd: process.cwd(), readFile: (file) => readFileSync(file, 'utf8'), defaultConfigFile: path });
        next = { options: settings.options, template: setUpTemplate(settings.options, settings.services) };
      } catch (err) {
        configRejected = describeError(err);
        logger.error({ configFile: path, why, err: configRejected }, 'config file refused; the running config stays');
        return;
      }
      configRejected = undefined;
      const restart = restartOnlyChanges(current.options, next.options);
      if (restart.length > 0) logger.warn({ configFile: path, options: restart }, 'config file changes options that take effect at the next start');
      const changes = describeServiceChanges(current.template.services, next.template.services);
      const prefixes = next.template.services.map((service) => service.prefix);
      try {
        await source.setPrefixes(prefixes);
      } catch (err) {
        configRejected = `cannot watch the new prefixes: ${describeError(err)}`;
        logger.error({ configFile: path, why, prefixes, err: describeError(err) }, 'config file refused; the running config stays');
        return;
      }
      const templateMoved = next.template.templatePath !== current.template.templatePath;
      current = next;
      renderer = next.template.renderer;
      loop.setServices(next.template.services);
      if (templateMoved) await watchTemplate();
      logger.info({ configFile: path, why, ...changes }, 'config file read again; re-rendering');
    };
    // A holder, not a `let`: the watcher is replaced when an edited config file names another template.
    const templateWatch: { current: FileContentWatch | null } = { current: null };
    const watchTemplate = async (): Promise<void> => {
      await templateWatch.current?.close();
      templateWatch.current = await watchFileContent({
        path: current.template.templatePath,
        onChange: () => reloadTemplate('file changed'),
        intervalMs: TEMPLATE_CHECK_MS,
        settleMs: 100,
        logger,
      });
    };
    await watchTemplate();
    const configWatcher =
      pipeline.configFile === null
        ? null
        : await watchFileContent({ path: pipeline.configFile, onChange: () => void reloadConfigFile('file changed'), intervalMs: TEMPLATE_CHECK_MS, settleMs: 100, logger });
    logger.info(
      {
        prefix: pipeline.options.prefix,
        services: pipeline.services.map((service) => `${service.name} ${service.prefix}`),
        config: pipeline.options.configPath,
        template: pipeline.template.templatePath,
        ...(pipeline.configFile === null ? {} : { configFile: pipeline.configFile }),
      },
      'watching etcd',
    );
    let lastPass: SyncResult | null = null;
    let lastPassAt = 0;
    // A pass that stops early (held by the guard, a failed confirmation) says nothing about the writer
    // records: /status keeps showing the last ones read.
    let lastWriters: SyncResult['writers'] = undefined;
    loop.onPass((result) => {
      lastPass = result;
      lastPassAt = Date.now();
      if (result.writers !== undefined) lastWriters = result.writers;
    });
    const report = (): StatusReport => ({
      etcd: source.health(),
      lastPass: lastPass === null ? null : { at: lastPassAt, outcome: lastPass.outcome, revision: lastPass.revision, ...(lastPass.reason ? { reason: lastPass.reason } : {}) },
      nodes: {
        valid: lastPass?.state.nodes.length ?? 0,
        rejected: (lastPass?.state.rejected ?? []).map((r) => ({ key: r.key, reason: r.reason })),
        incomplete: lastPass?.state.incomplete.length ?? 0,
      },
      services: describeServices(current.template.services, lastPass, lastWriters),
      ...(pipeline.configFile === null ? {} : { configFile: { path: pipeline.configFile, ...(configRejected === undefined ? {} : { rejected: configRejected }) } }),
    });
    const status =
      options.statusListen === undefined
        ? null
        : await startStatusServer({
            listen: options.statusListen,
            metrics: pipeline.metrics,
            report,
            staleAfterMs: options.staleAfterMs,
          });
    handleControlSignals(io, logger, {
      // The template is loaded again even when its bytes did not change (an include may have), and a
      // pass runs either way.
      reread: () => {
        if (pipeline.configFile === null) reloadTemplate('SIGHUP');
        else void reloadConfigFile('SIGHUP');
      },
      status: () => {
        const now = report();
        return {
          etcdConnected: now.etcd.connected,
          etcdRevision: now.etcd.revision,
          lastPass: now.lastPass === null ? null : { ...now.lastPass, agoS: Math.round((Date.now() - now.lastPass.at) / 1000) },
          nodes: { valid: now.nodes.valid, rejected: now.nodes.rejected.length, incomplete: now.nodes.incomplete },
        };
      },
    });
    if (status) logger.info({ address: status.address }, 'status endpoint listening');
    // `start` waits up to the start timeout for a first snapshot; a signal meanwhile stops at once.
    const started = loop.start();
    const signal = await Promise.race([started.then(() => io.stopSignal), io.stopSignal]);
    logger.info({ signal }, 'stopping');
    // A pass in flight may be waiting seconds for HAProxy to confirm a reload; an orchestrator's grace
    // period is short, and the file is only ever replaced atomically, so it is not waited for long: the
    // next start reconciles whatever the pass left undone.
    const stopped = Promise.all([status?.close(), templateWatch.current?.close(), configWatcher?.close(), loop.stop(), started]).then(() => {
      pipeline.close();
      return true;
    });
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([stopped, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS)))]);
    clearTimeout(timer);
    if (!inTime) {
      logger.warn({ waitedMs: STOP_GRACE_MS }, 'a sync pass is still running; stopping without waiting for it');
      return;
    }
    logger.info('stopped');
  });
}

/** Per-service counts of the last pass, for /status and /healthz. */
export function describeServices(services: readonly ServiceSpec[], pass: SyncResult | null, writers: SyncResult['writers'] = pass?.writers): ServiceStatus[] {
  return services.map((service, i) => {
    const mine = (item: { readonly service?: string }): boolean => item.service === service.name || (i === 0 && item.service === undefined);
    const held = pass?.held?.find((h) => h.service === service.name);
    const draining = (pass?.state.nodes ?? []).filter((n) => mine(n) && n.draining === true).map((n) => n.name);
    const writer = writers?.find((w) => w.service === service.name);
    return {
      name: service.name,
      prefix: service.prefix,
      valid: pass?.state.nodes.filter(mine).length ?? 0,
      rejected: pass?.state.rejected.filter(mine).length ?? 0,
      incomplete: pass?.state.incomplete.filter(mine).length ?? 0,
      ...(draining.length === 0 ? {} : { draining }),
      ...(held === undefined ? {} : { held: held.reason }),
      ...(writer === undefined ? {} : { writer: withoutService(writer) }),
    };
  });
}

function withoutService<T extends { readonly service: string }>(item: T): Omit<T, 'service'> {
  const { service: _service, ...rest } = item;
  return rest;
}
