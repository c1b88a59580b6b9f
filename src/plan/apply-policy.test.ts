import { describe, expect, it } from 'vitest';
import { decideApply } from './apply-policy.js';
import type { Plan, RuntimeServer, ServerSpec } from './types.js';

const spec = (name: string): ServerSpec => ({ backend: 'galera', name, address: '10.0.0.1', port: 3306, weight: 1, backup: false });
const live = (name: string, sessions: number): RuntimeServer => ({ ...spec(name), operState: 2, adminState: 0, sessions });
const policy = { runtimeApi: true, maxRuntimeOps: 2 };

describe('decideApply', () => {
  it('keeps a runtime plan within the policy as it is', () => {
    const planned: Plan = { runtimeOps: [{ op: 'add', server: spec('a') }], reloadReasons: [] };
    expect(decideApply(planned, [], policy)).toEqual(planned);
  });

  it('turns too many runtime ops into one reload, keeping the ops for the record', () => {
    const planned: Plan = { runtimeOps: ['a', 'b', 'c'].map((n) => ({ op: 'add', server: spec(n) }) as const), reloadReasons: [] };
    const plan = decideApply(planned, [], policy);
    expect(plan.reloadReasons).toEqual(['3 server changes: one reload is quicker than 3 runtime ops']);
    expect(plan.runtimeOps).toHaveLength(3);
  });

  it('reloads for every change when the Runtime API is off', () => {
    const plan = decideApply({ runtimeOps: [{ op: 'add', server: spec('a') }], reloadReasons: [] }, [], { ...policy, runtimeApi: false });
    expect(plan.reloadReasons).toEqual(['1 server change(s) and the Runtime API is off']);
  });

  it('switches a busy server between active and backup by a reload, an idle one at runtime', () => {
    const planned: Plan = { runtimeOps: [{ op: 'set-backup', server: spec('a') }], reloadReasons: [] };
    expect(decideApply(planned, [live('a', 3)], policy).reloadReasons).toEqual(['galera/a switches active/backup with open sessions']);
    expect(decideApply(planned, [live('a', 0)], policy).reloadReasons).toEqual([]);
  });

  it('adds a caller reason (the single writer moved) to the structural ones', () => {
    const plan = decideApply({ runtimeOps: [], reloadReasons: ['config structure changed'] }, [], policy, 'single writer of galera moves from a to b');
    expect(plan.reloadReasons).toEqual(['config structure changed', 'single writer of galera moves from a to b']);
  });
});
