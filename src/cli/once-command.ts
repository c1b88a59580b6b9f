import { Command } from 'commander';
import { syncToView } from '../daemon/sync-pass.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addApplyFlags, addEtcdFlags, addPipelineFlags } from './pipeline-flags.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';

export function createOnceCommand(io: CliIO): Command {
  const cmd = new Command('once').description(
    'One pass: read etcd at one revision, render, haproxy -c, write atomically, apply (Runtime API or confirmed reload), exit. ' +
      'Exit 0 when applied or unchanged; non-zero when the change was rejected or failed (the live file is untouched).',
  );
  addApplyFlags(addPipelineFlags(addEtcdFlags(cmd)));
  return cmd.action(async (flags: CommandFlags) => {
    const pipeline = composePipeline(flags, io, { apply: true });
    try {
      const view = await (await pipeline.source()).readOnce();
      const result = await syncToView(view, null, pipeline.syncDeps());
      if (result.outcome === 'failed') throw new CommandFailed(result.reason ?? 'sync failed', ExitCode.failed);
      if (result.outcome === 'guarded') throw new CommandFailed(result.reason ?? 'guard held', ExitCode.rejected);
    } finally {
      await (await pipeline.source()).close();
    }
  });
}
