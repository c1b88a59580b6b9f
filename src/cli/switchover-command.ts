import { hostname } from 'node:os';
import { Command } from 'commander';
import { addOptionFlags } from '../config/option-table.js';
import { decodeServices, nodesOf } from '../model/decode-cluster.js';
import { planSwitchover, switchoverReadiness, type SwitchoverPlan } from '../model/choose-writer.js';
import { writerKeyOf, type ServiceSpec } from '../model/service.js';
import type { MultiPrefixSource } from '../source/multi-prefix-source.js';
import { encodeWriterRecord, readWriterRecord } from '../model/writer-record.js';
import { readWriteListener } from '../daemon/writer-election.js';
import { describeError } from '../errors.js';
import { parseDurationFlag } from '../config/parse-values.js';
import { sleep } from '../lib/sleep.js';
import { askClustercheck, clustercheckUrl } from '../observe/clustercheck-client.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';

interface SwitchoverFlags extends CommandFlags {
  service?: string;
  to?: string;
  wait?: string;
}

const POLL_MS = 250;
const CLUSTERCHECK_TIMEOUT_MS = 1_000;
/** After the record moved: how long past the handover this proxy is given to route writes to the target. */
const FOLLOW_SLACK_MS = 10_000;

/**
 * A planned writer move: the single-writer record of one service is moved to `--to` by compare-and-swap,
 * once the target qualifies (registered, allowed to write, UP in this proxy's HAProxy) and has applied
 * what it received (`wsrep_local_recv_queue` 0 in its clustercheck JSON); both are waited for up to
 * `--wait`. Every proxy then follows the record: the old writer takes no new connection at once, new
 * clients wait in HAProxy (`writer_hold`) through the `--writer-handover`, then the sessions left on the
 * old writer are shut down and the target takes the writes. The command returns when this proxy's
 * HAProxy writes to the target.
 */
export function createSwitchoverCommand(io: CliIO): Command {
  const cmd = new Command('switchover').description(
    "Move a single-writer service's writer to another node through its etcd record, once the node is UP in this HAProxy (read through the stats socket) " +
      'and has applied what it received (wsrep_local_recv_queue 0 in its clustercheck JSON), both waited for up to --wait; refused (exit 1, with the reason) for a node that is not ' +
      'registered, has priority or weight 0, is draining, or does not qualify within --wait. Returns once this HAProxy writes to it. Exit 0 moved or already the writer, ' +
      '1 refused or the record moved meanwhile, 2 bad flags, 4 etcd unreachable.',
  );
  cmd.requiredOption('--to <node>', 'the new writer: its node id (as registered) or its server name');
  cmd.option('--service <name>', 'the single-writer service (default: the only one)');
  cmd.option('--wait <duration>', 'how long to wait for the target to be UP here and to have an empty receive queue', '30s');
  for (const group of ['etcd', 'config', 'pipeline', 'apply'] as const) addOptionFlags(cmd, 'plan', group);
  return cmd.action(async (flags: SwitchoverFlags) => {
    // A malformed --wait is a ConfigError: exit 2 with its one line, as for every flag.
    const waitMs = parseDurationFlag(flags.wait ?? '30s', '--wait');
    const pipeline = await composePipeline(flags, io, { apply: true, planOnly: true, recordWrites: true });
    try {
      await switchover(pipeline, flags, waitMs, io);
    } finally {
      pipeline.close();
    }
  });
}

type Pipeline = Awaited<ReturnType<typeof composePipeline>>;

async function switchover(pipeline: Pipeline, flags: SwitchoverFlags, waitMs: number, io: CliIO): Promise<void> {
  const single = pipeline.services.filter((s) => s.writer === 'single');
  const service = flags.service === undefined ? (single.length === 1 ? single[0] : undefined) : single.find((s) => s.name === flags.service);
  if (service === undefined) {
    const names = single.map((s) => s.name).join(', ');
    const why = flags.service === undefined ? `--service is needed (single-writer services: ${names === '' ? 'none' : names})` : `--service ${flags.service}: not a single-writer service (single-writer services: ${names === '' ? 'none' : names})`;
    throw new CommandFailed(why, ExitCode.usage);
  }
  // One source for every look: a wait reads etcd again each round.
  const source = await pipeline.source();
  try {
    await moveWhenReady(pipeline, source, service, flags.to ?? '', waitMs, io);
  } finally {
    await source.close();
  }
}

/** Looks again every POLL_MS until the target qualifies and has caught up, then moves the record. */
async function moveWhenReady(pipeline: Pipeline, source: MultiPrefixSource, service: ServiceSpec, to: string, waitMs: number, io: CliIO): Promise<void> {
  const { logger } = pipeline;
  const key = writerKeyOf(service);
  const started = performance.now();
  let waited = '';
  for (;;) {
    const view = await source.readOnce();
    const state = decodeServices(pipeline.services, view.kvs, { serverNames: pipeline.serverNames });
    const read = readWriterRecord(key, view.kvs);
    const up = (await readWriteListener(service.name, pipeline.applier, logger))?.up ?? null;
    const plan = planSwitchover(read, nodesOf(state, service.name, pipeline.services[0] === service), up, to);
    const late = performance.now() - started >= waitMs;
    if (plan.kind === 'already') {
      io.stdout.write(`${plan.writer.name} already is the writer of ${service.name} (epoch ${read.kind === 'ok' ? read.epoch : 0})\n`);
      return;
    }
    let why: string;
    if (plan.kind === 'refuse') {
      if (plan.passing !== true || late) throw new CommandFailed(`switchover of ${service.name} to ${to} refused${late && plan.passing === true ? ` after ${formatMs(waitMs)}` : ''}: ${plan.reason}`, ExitCode.failed);
      why = plan.reason;
    } else {
      const url = clustercheckUrl(service, plan.to);
      const answer = url === null ? 'no-check' : await askClustercheck(url, CLUSTERCHECK_TIMEOUT_MS).catch(() => null);
      const ready = switchoverReadiness(plan.to.name, answer);
      if (ready.kind === 'go') {
        if (ready.note !== undefined) logger.warn({ service: service.name, to: plan.to.name }, ready.note);
        await moveRecord(pipeline, service.name, key, plan, io);
        return;
      }
      if (late) throw new CommandFailed(`switchover of ${service.name} to ${plan.to.name} refused after ${formatMs(waitMs)}: ${ready.why}`, ExitCode.failed);
      why = ready.why;
    }
    if (why !== waited) logger.info({ service: service.name, to }, `switchover waits: ${why}`);
    waited = why;
    await sleep(POLL_MS);
  }
}

async function moveRecord(pipeline: Pipeline, serviceName: string, key: string, plan: Extract<SwitchoverPlan, { kind: 'swap' }>, io: CliIO): Promise<void> {
  const { logger } = pipeline;
  const store = pipeline.writerStore;
  if (store === null) throw new CommandFailed('switchover: no etcd writer store', ExitCode.failed);
  const proxyId = pipeline.options.proxyId ?? hostname();
  const value = encodeWriterRecord({ node: plan.to.id, by: proxyId, reason: `switchover to ${plan.to.name} by an operator`, at: new Date().toISOString() });
  let epoch: string;
  try {
    const swapped = await store.swap(key, plan.epoch, value);
    if (!swapped.won) {
      const now = swapped.kv === null ? 'deleted' : `now epoch ${swapped.kv.modRevision ?? '?'}`;
      throw new CommandFailed(`switchover of ${serviceName} to ${plan.to.name} lost: the record moved meanwhile (read at epoch ${plan.epoch}, ${now}); look again and retry`, ExitCode.failed);
    }
    epoch = String(swapped.kv.modRevision);
  } catch (err) {
    if (err instanceof CommandFailed) throw err;
    throw new CommandFailed(`switchover: etcd: ${describeError(err)}`, ExitCode.unavailable);
  }
  const movedAt = performance.now();
  logger.info({ event: 'writer', service: serviceName, key, epoch, from: plan.from, to: plan.to.id, by: proxyId, reason: 'switchover' }, 'writer record moved by switchover');
  io.stdout.write(`writer of ${serviceName}: ${plan.from ?? 'none'} -> ${plan.to.name} (${plan.to.id}), epoch ${epoch}\n`);
  // The proxies follow by themselves; this one is watched so that the command ends when writes flow.
  const limit = pipeline.options.writerHandoverMs + FOLLOW_SLACK_MS;
  while (performance.now() - movedAt < limit) {
    const view = await readWriteListener(serviceName, pipeline.applier, logger);
    if (view?.serving === plan.to.name) {
      io.stdout.write(`this HAProxy writes to ${plan.to.name} ${formatMs(performance.now() - movedAt)} after the record moved\n`);
      return;
    }
    await sleep(50);
  }
  logger.warn({ service: serviceName, to: plan.to.name }, `this HAProxy does not write to ${plan.to.name} ${formatMs(limit)} after the record moved: is its watch daemon running?`);
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${Math.round(ms)} ms`;
}
