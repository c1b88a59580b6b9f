import { Command } from 'commander';
import { addOptionFlags } from '../config/option-table.js';
import { decodeServices, nodesOf } from '../model/decode-cluster.js';
import { planSwitchover } from '../model/choose-writer.js';
import { writerKeyOf } from '../model/service.js';
import { encodeWriterRecord, readWriterRecord } from '../model/writer-record.js';
import { readWriteListener } from '../daemon/writer-election.js';
import { describeError } from '../errors.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';
import { readNodes } from './one-pass.js';

interface SwitchoverFlags extends CommandFlags {
  service?: string;
  to?: string;
}

/**
 * A planned writer move: the single-writer record of one service is moved to `--to` by compare-and-swap,
 * after checking the target against etcd and this proxy's HAProxy. Every proxy follows the record (the
 * old writer leaves at once, the new one takes writes after `--writer-handover`). It does not wait for
 * the old writer's open transactions or Galera's receive queue, and does not close the sessions open on
 * the old writer.
 */
export function createSwitchoverCommand(io: CliIO): Command {
  const cmd = new Command('switchover').description(
    "Move a single-writer service's writer to another node through its etcd record: refused (exit 1, with the reason) for a node that is not " +
      'registered, has priority or weight 0, or is not UP in this HAProxy (read through the stats socket). Exit 0 moved or already the writer, ' +
      '1 refused or the record moved meanwhile, 2 bad flags, 4 etcd unreachable.',
  );
  cmd.requiredOption('--to <node>', 'the new writer: its node id (as registered) or its server name');
  cmd.option('--service <name>', 'the single-writer service (default: the only one)');
  for (const group of ['etcd', 'config', 'pipeline', 'apply'] as const) addOptionFlags(cmd, 'plan', group);
  return cmd.action(async (flags: SwitchoverFlags) => {
    const pipeline = await composePipeline(flags, io, { apply: true, planOnly: true, recordWrites: true });
    const { logger } = pipeline;
    const single = pipeline.services.filter((s) => s.writer === 'single');
    const service = flags.service === undefined ? (single.length === 1 ? single[0] : undefined) : single.find((s) => s.name === flags.service);
    if (service === undefined) {
      const names = single.map((s) => s.name).join(', ');
      const why = flags.service === undefined ? `--service is needed (single-writer services: ${names === '' ? 'none' : names})` : `--service ${flags.service}: not a single-writer service (single-writer services: ${names === '' ? 'none' : names})`;
      throw new CommandFailed(why, ExitCode.usage);
    }
    const to = flags.to ?? '';
    const { view } = await readNodes(pipeline, undefined);
    const state = decodeServices(pipeline.services, view.kvs);
    const key = writerKeyOf(service);
    const read = readWriterRecord(key, view.kvs);
    const up = (await readWriteListener(service.name, pipeline.applier, logger))?.up ?? null;
    const plan = planSwitchover(read, nodesOf(state, service.name, pipeline.services[0] === service), up, to);
    if (plan.kind === 'refuse') throw new CommandFailed(`switchover of ${service.name} to ${to} refused: ${plan.reason}`, ExitCode.failed);
    if (plan.kind === 'already') {
      io.stdout.write(`${plan.writer.name} already is the writer of ${service.name} (epoch ${read.kind === 'ok' ? read.epoch : 0})\n`);
      return;
    }
    const store = pipeline.writerStore;
    if (store === null) throw new CommandFailed('switchover: no etcd writer store', ExitCode.failed);
    const proxyId = pipeline.options.proxyId ?? (await import('node:os')).hostname();
    const value = encodeWriterRecord({ node: plan.to.id, by: proxyId, reason: `switchover to ${plan.to.name} by an operator`, at: new Date().toISOString() });
    try {
      const swapped = await store.swap(key, plan.epoch, value);
      if (!swapped.won) {
        const now = swapped.kv === null ? 'deleted' : `now epoch ${swapped.kv.modRevision ?? '?'}`;
        throw new CommandFailed(`switchover of ${service.name} to ${plan.to.name} lost: the record moved meanwhile (read at epoch ${plan.epoch}, ${now}); look again and retry`, ExitCode.failed);
      }
      logger.info({ event: 'writer', service: service.name, key, epoch: String(swapped.kv.modRevision), from: plan.from, to: plan.to.id, by: proxyId, reason: 'switchover' }, 'writer record moved by switchover');
      io.stdout.write(`writer of ${service.name}: ${plan.from ?? 'none'} -> ${plan.to.name} (${plan.to.id}), epoch ${swapped.kv.modRevision}\n`);
    } catch (err) {
      if (err instanceof CommandFailed) throw err;
      throw new CommandFailed(`switchover: etcd: ${describeError(err)}`, ExitCode.unavailable);
    } finally {
      pipeline.close();
    }
  });
}
