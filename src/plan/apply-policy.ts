import type { Plan, RuntimeServer } from './types.js';

/** What decides between the Runtime API and a reload, besides what the runtime cannot do at all. */
export interface ApplyPolicy {
  /** Off, every change is a confirmed reload (HAProxy without dynamic servers). */
  readonly runtimeApi: boolean;
  /** Past this many runtime ops one reload is quicker than one socket round trip per server. */
  readonly maxRuntimeOps: number;
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
    } else if (planned.runtimeOps.length > policy.maxRuntimeOps) {
      reasons.push(`${planned.runtimeOps.length} server changes: one reload is quicker than ${planned.runtimeOps.length} runtime ops`);
    }
  }
  return { runtimeOps: planned.runtimeOps, reloadReasons: reasons };
}
