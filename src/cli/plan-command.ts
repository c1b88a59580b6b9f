import { Command } from 'commander';
import type { RuntimeOp } from '../plan/types.js';
import { formatEndpoint } from '../model/decode-cluster.js';
import type { SyncResult } from '../daemon/sync-pass.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addCommandFlags } from './pipeline-flags.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';
import { readNodes, runOnePass } from './one-pass.js';

interface PlanFlags extends CommandFlags {
  nodes?: string;
  json?: boolean;
}

/** One runtime operation as `plan --json` prints it. */
export interface PlannedOp {
  readonly op: RuntimeOp['op'];
  readonly server: string;
  readonly address: string;
  readonly weight: number;
  readonly backup: boolean;
  readonly from?: string | number;
  readonly reason?: string;
  /** `set-state`: the admin state the server is put in. */
  readonly state?: 'drain' | 'ready';
}

/** The report of `plan`: what `once` would do now. */
export interface PlanReport {
  readonly revision: string;
  /** True when `once` would change something: the file, the runtime, or both. */
  readonly changes: boolean;
  /** The live file would be rewritten. */
  readonly file: boolean;
  /** One reload would carry the change (its reasons below); otherwise the runtime ops are the change. */
  readonly reload: boolean;
  readonly reasons: readonly string[];
  readonly services: readonly { readonly name: string; readonly ops: readonly PlannedOp[] }[];
  /** Why HAProxy's runtime could not be read, when it could not (the plan is then the file's alone). */
  readonly runtimeError?: string;
  /** Services held back by their min-servers guard. */
  readonly held?: readonly string[];
  /** Why runtime or reload, with both estimates, when the cost decided it. */
  readonly decision?: string;
}

function describeOp(op: RuntimeOp): PlannedOp {
  const base = { op: op.op, server: op.server.name, address: formatEndpoint(op.server.address, op.server.port), weight: op.server.weight, backup: op.server.backup };
  if (op.op === 'set-addr') return { ...base, from: formatEndpoint(op.from.address, op.from.port) };
  if (op.op === 'set-weight') return { ...base, from: op.from };
  if (op.op === 'repair' || op.op === 'shutdown-sessions') return { ...base, reason: op.reason };
  if (op.op === 'set-state') return { ...base, state: op.state };
  return base;
}

/** Builds the report of a pass run in plan mode; pure, for the command and its tests. */
export function planReport(result: SyncResult, serviceNames: readonly string[]): PlanReport {
  const planned = result.plan;
  const ops = planned?.plan.runtimeOps ?? [];
  const reasons = planned?.plan.reloadReasons ?? [];
  const backends = [...new Set([...serviceNames, ...ops.map((op) => op.server.backend)])];
  const services = backends.map((name) => ({ name, ops: ops.filter((op) => op.server.backend === name).map(describeOp) }));
  const file = planned?.fileChanges ?? false;
  return {
    revision: result.revision,
    changes: file || ops.length > 0 || reasons.length > 0,
    file,
    reload: reasons.length > 0,
    reasons,
    services,
    ...(planned?.runtimeError === undefined ? {} : { runtimeError: planned.runtimeError }),
    ...(result.held === undefined ? {} : { held: result.held.map((h) => h.line) }),
    ...(planned?.plan.decision === undefined ? {} : { decision: planned.plan.decision }),
  };
}

export function formatPlanReport(report: PlanReport): string {
  const lines: string[] = [];
  if (report.runtimeError !== undefined) lines.push(`HAProxy's runtime could not be read (${report.runtimeError}): the plan compares files only`);
  for (const held of report.held ?? []) lines.push(`held by the guard: ${held}`);
  if (!report.changes) {
    lines.push(`nothing to do at etcd revision ${report.revision}`);
    return `${lines.join('\n')}\n`;
  }
  if (report.file) lines.push(`the config file would be rewritten (etcd revision ${report.revision})`);
  if (report.reload) lines.push(`one reload would carry the change: ${report.reasons.join('; ')}`);
  if (report.decision !== undefined && !report.reload) lines.push(`the Runtime API, by estimated cost: ${report.decision}`);
  for (const service of report.services) {
    if (service.ops.length === 0) {
      lines.push(`service ${service.name}: no server changes`);
      continue;
    }
    lines.push(`service ${service.name}: ${service.ops.length} server change(s)${report.reload ? ' (by the reload)' : ' through the Runtime API'}`);
    for (const op of service.ops) {
      const from = op.from === undefined ? '' : ` (from ${op.from})`;
      const why = op.reason === undefined ? '' : ` (${op.reason})`;
      const state = op.state === undefined ? '' : ` ${op.state}`;
      lines.push(`  ${op.op}${state} ${service.name}/${op.server} ${op.address} weight ${op.weight}${op.backup ? ' backup' : ''}${from}${why}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function createPlanCommand(io: CliIO): Command {
  const cmd = new Command('plan').description(
    'Print what `once` would do now, without doing it: per service the runtime operations (add, remove, set-addr, ' +
      'set-weight, set-backup, set-state drain|ready, repair, shutdown-sessions) or the reload and its reasons, from etcd (or --nodes FILE) against the running HAProxy. ' +
      'Exit 0 nothing to do, 1 changes pending, 3 rejected (guard or haproxy -c).',
  );
  addCommandFlags(cmd, 'plan').option('--json', 'print the plan as JSON');
  return cmd.action(async (flags: PlanFlags) => {
    const pipeline = await composePipeline(flags, io, { apply: true, planOnly: true });
    const result = await runOnePass(pipeline, await readNodes(pipeline, flags.nodes), { kind: 'plan' });
    if (result.outcome === 'guarded') throw new CommandFailed(result.reason ?? 'guard held', ExitCode.rejected);
    if (result.outcome === 'failed') throw new CommandFailed(result.reason ?? 'plan failed', ExitCode.rejected);
    const report = planReport(result, pipeline.services.map((s) => s.name));
    io.stdout.write(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatPlanReport(report));
    if (report.changes) throw new CommandFailed('', ExitCode.failed);
  });
}
