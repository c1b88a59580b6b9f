import { Command } from 'commander';
import { WatchLoop } from '../daemon/watch-loop.js';
import { watchFileContent } from '../daemon/file-content-watch.js';
import { describeError } from '../errors.js';
import type { CliIO } from './io.js';
import { describeSignals, handleControlSignals } from './control-signals.js';
import { addCommandFlags, USAGE_EXAMPLES } from './pipeline-flags.js';
import { composePipeline, setUpTemplate, type CommandFlags } from './compose-pipeline.js';
import type { ConfigRenderer, SyncResult } from '../daemon/sync-pass.js';
import { startStatusServer, type ServiceStatus, type StatusReport } from '../observe/status-server.js';
import type { ServiceSpec } from '../model/service.js';
import type { ClusterState } from '../model/types.js';

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
    const reloadTemplate = (why: 'file changed' | 'SIGHUP'): void => {
      try {
        renderer = setUpTemplate(pipeline.options, pipeline.services).renderer;
        logger.info({ template: pipeline.template.templatePath, why }, why === 'SIGHUP' ? 'template read again on SIGHUP; re-rendering' : 'template changed; re-rendering');
      } catch (err) {
        logger.error({ template: pipeline.template.templatePath, why, err: describeError(err) }, 'template changed but cannot be loaded; keeping the previous one');
        return;
      }
      loop.poke();
    };
    const templateWatcher = await watchFileContent({
      path: pipeline.template.templatePath,
      onChange: () => reloadTemplate('file changed'),
      intervalMs: TEMPLATE_CHECK_MS,
      settleMs: 100,
      logger,
    });
    logger.info(
      { prefix: pipeline.options.prefix, config: pipeline.options.configPath, template: pipeline.template.templatePath },
      'watching etcd',
    );
    let lastPass: SyncResult | null = null;
    let lastPassAt = 0;
    loop.onPass((result) => {
      lastPass = result;
      lastPassAt = Date.now();
    });
    const source = await pipeline.source();
    const report = (): StatusReport => ({
      etcd: source.health(),
      lastPass: lastPass === null ? null : { at: lastPassAt, outcome: lastPass.outcome, revision: lastPass.revision, ...(lastPass.reason ? { reason: lastPass.reason } : {}) },
      nodes: {
        valid: lastPass?.state.nodes.length ?? 0,
        rejected: (lastPass?.state.rejected ?? []).map((r) => ({ key: r.key, reason: r.reason })),
        incomplete: lastPass?.state.incomplete.length ?? 0,
      },
      services: describeServices(pipeline.services, lastPass),
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
      reread: () => reloadTemplate('SIGHUP'),
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
    const stopped = Promise.all([status?.close(), templateWatcher.close(), loop.stop(), started]).then(() => true);
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
export function describeServices(services: readonly ServiceSpec[], pass: SyncResult | null): ServiceStatus[] {
  return services.map((service, i) => {
    const mine = (item: { readonly service?: string }): boolean => item.service === service.name || (i === 0 && item.service === undefined);
    const held = pass?.held?.find((h) => h.service === service.name);
    return {
      name: service.name,
      prefix: service.prefix,
      valid: pass?.state.nodes.filter(mine).length ?? 0,
      rejected: pass?.state.rejected.filter(mine).length ?? 0,
      incomplete: pass?.state.incomplete.filter(mine).length ?? 0,
      ...(held === undefined ? {} : { held: held.reason }),
    };
  });
}
