import { backendSizes, chooseApplyWay, estimateCosts, NO_FIGURES, runtimeWork, type CostFigures } from './apply-cost.js';
import type { Plan, RuntimeServer } from './types.js';

/** What decides between the Runtime API and a reload, besides what the runtime cannot do at all. */
export interface ApplyPolicy {
  /** Off, every change is a confirmed reload (HAProxy without dynamic servers). */
  readonly runtimeApi: boolean;
  /** The operator's upper bound: a change with more runtime ops than this is always one reload. */
  readonly maxRuntimeOps: number;
  /** The daemon's recent timings (runtime batches, checks, reloads); without them, the defaults. */
  readonly costs?: CostFigures;
  /** What is left of the minimum gap between reloads: a reload now would wait this long first. */
  readonly reloadWaitMs?: number;
}

const keyOf = (s: { readonly backend: string; readonly name: string }): string => `${s.backend}/${s.name}`;

/**
 * The plan as it will be carried out: the server diff of `planChanges`, plus the reasons the policy
 * turns runtime ops into a reload. A plan with reload reasons is carried by one reload, its runtime ops
 * included. Pure: the applier and `galera-haproxy plan` reach the same decision from the same input.
 */
export function decideApply(planned: Plan, runtime: readonly RuntimeServer[], policy: ApplyPolicy, extraReason?: string): Plan {
  const reasons = extraReason === undefined ? [...planned.reloadReasons] : [...planned.reloadReasons, extraReason];
  if (reasons.length === 0 && planned.runtimeOps.length > 0) {
    // HAProxy cannot flip `backup` on a live server: the runtime way deletes and re-adds it, which cuts
    // its sessions. A reload keeps them (on the old worker), so a busy server switches that way.
    const sessions = new Map(runtime.map((s) => [keyOf(s), s.sessions ?? 0]));
    const busySwitch = planned.runtimeOps.filter((op) => op.op === 'set-backup' && (sessions.get(keyOf(op.server)) ?? 0) > 0);
    if (busySwitch.length > 0) {
      reasons.push(...busySwitch.map((op) => `${keyOf(op.server)} switches active/backup with open sessions`));
    } else if (!policy.runtimeApi) {
      reasons.push(`${planned.runtimeOps.length} server change(s) and the Runtime API is off`);
    } else {
      // The file after the change holds about the servers running now plus those added.
      const servers = runtime.length + planned.runtimeOps.filter((op) => op.op === 'add').length;
      const work = runtimeWork(planned.runtimeOps.map((op) => ({ op: op.op, backend: op.server.backend })), backendSizes(runtime));
      const estimate = estimateCosts(policy.costs ?? NO_FIGURES, work, servers, policy.reloadWaitMs ?? 0);
      const way = chooseApplyWay(planned.runtimeOps.length, estimate, policy.maxRuntimeOps);
      if (way.way === 'reload') reasons.push(way.reason);
      return { runtimeOps: planned.runtimeOps, reloadReasons: reasons, decision: way.reason };
    }
  }
  return { runtimeOps: planned.runtimeOps, reloadReasons: reasons };
}
