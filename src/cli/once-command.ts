import { Command } from 'commander';
import type { SyncResult } from '../daemon/sync-pass.js';
import { readNodes, runOnePass } from './one-pass.js';
import type { Applier } from '../apply/types.js';
import type { Logger } from '../observe/logger.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addCommandFlags } from './pipeline-flags.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';

/**
 * A removed server is left in DRAIN until its sessions end: a one-shot run that exited then would leave
 * it there for good. So `once` waits, each server at most the drain timeout (idle ones go at once), and
 * a stop signal ends the wait by shutting the remaining sessions.
 */
async function finishDrains(applier: Applier | null, logger: Logger, drainTimeoutMs: number, stop: Promise<string>): Promise<void> {
  const draining = applier?.draining?.() ?? [];
  if (applier === null || draining.length === 0) return;
  logger.info({ draining, drainTimeoutMs }, 'waiting for removed servers to drain');
  void stop.then((signal) => {
    if ((applier.draining?.() ?? []).length === 0) return;
    logger.warn({ signal }, 'stop requested: shutting the sessions of draining servers now');
    applier.hurryDrains?.();
  });
  await applier.settleDrains?.();
  const left = (await applier.runtime?.())?.filter((s) => draining.includes(`${s.backend}/${s.name}`)).map((s) => `${s.backend}/${s.name}`) ?? [];
  if (left.length > 0) throw new CommandFailed(`removed servers still in HAProxy after draining: ${left.join(', ')}`, ExitCode.failed);
}

export function createOnceCommand(io: CliIO): Command {
  const cmd = new Command('once').description(
    'One pass: read etcd at one revision, render, haproxy -c, write atomically, apply (Runtime API or confirmed reload), ' +
      'wait for removed servers to drain (at most --drain-timeout), exit. ' +
      'Exit 0 when applied or unchanged; non-zero when the change was rejected or failed (the live file is untouched).',
  );
  addCommandFlags(cmd, 'once');
  return cmd.action(async (flags: CommandFlags) => {
    const pipeline = await composePipeline(flags, io, { apply: true });
    const result: SyncResult = await runOnePass(pipeline, await readNodes(pipeline, undefined), { kind: 'apply' });
    await finishDrains(pipeline.applier, pipeline.logger, pipeline.options.drainTimeoutMs, io.stopSignal);
    if (result.outcome === 'failed') throw new CommandFailed(result.reason ?? 'sync failed', ExitCode.failed);
    if (result.outcome === 'guarded') throw new CommandFailed(result.reason ?? 'guard held', ExitCode.rejected);
  });
}
