import { Command } from 'commander';
import { watch as watchFile } from 'chokidar';
import { WatchLoop } from '../daemon/watch-loop.js';
import { describeError } from '../errors.js';
import type { CliIO } from './io.js';
import { addApplyFlags, addEtcdFlags, addPipelineFlags } from './pipeline-flags.js';
import { composePipeline, setUpTemplate, type CommandFlags } from './compose-pipeline.js';
import type { ConfigRenderer } from '../daemon/sync-pass.js';
import type { ClusterState } from '../model/types.js';

export function createWatchCommand(io: CliIO): Command {
  const cmd = new Command('watch').description(
    'The daemon: mirror the prefix (snapshot, then watch), debounce, and keep HAProxy in step until SIGTERM/SIGINT.',
  );
  addApplyFlags(addPipelineFlags(addEtcdFlags(cmd)))
    .option('--wait <min:max>', 'quiescence: each change delays the apply by MIN, never past the first change + MAX', '20ms:200ms')
    .option('--resync <duration>', 'interval of the etcd full resync and the HAProxy drift repair', '5m');
  return cmd.action(async (flags: CommandFlags) => {
    const pipeline = composePipeline(flags, io, { apply: true });
    const { logger } = pipeline;
    // The renderer is swapped when the template file changes, so a fixed template heals a broken one.
    let renderer: ConfigRenderer = pipeline.template.renderer;
    const swappable: ConfigRenderer = { render: (state: ClusterState, meta) => renderer.render(state, meta) };
    const loop = new WatchLoop(pipeline.source(), pipeline.syncDeps(swappable), {
      wait: pipeline.options.wait,
      resyncMs: pipeline.options.resyncMs,
      retryMinMs: 500,
      retryMaxMs: 30_000,
    });
    const templateWatcher = watchFile(pipeline.template.templatePath, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100 } });
    templateWatcher.on('all', () => {
      try {
        renderer = setUpTemplate(pipeline.options).renderer;
        logger.info({ template: pipeline.template.templatePath }, 'template changed; re-rendering');
      } catch (err) {
        logger.error({ template: pipeline.template.templatePath, err: describeError(err) }, 'template changed but cannot be loaded; keeping the previous one');
        return;
      }
      loop.poke();
    });
    logger.info(
      { prefix: pipeline.options.prefix, config: pipeline.options.configPath, template: pipeline.template.templatePath },
      'watching etcd',
    );
    await loop.start();
    const signal = await io.stopSignal;
    logger.info({ signal }, 'stopping');
    await templateWatcher.close();
    await loop.stop();
    logger.info('stopped');
  });
}
