import { describe, expect, it } from 'vitest';
import { decideApply } from './apply-policy.js';
import type { Plan, RuntimeServer, ServerSpec } from './types.js';

const spec = (name: string): ServerSpec => ({ backend: 'galera', name, address: '10.0.0.1', port: 3306, weight: 1, backup: false });
const live = (name: string, sessions: number): RuntimeServer => ({ ...spec(name), operState: 2, adminState: 0, sessions });
const policy = { runtimeApi: true, maxRuntimeOps: 2 };

describe('decideApply', () => {
  it('keeps a runtime plan the estimate favours as it is, saying why', () => {
    const planned: Plan = { runtimeOps: [{ op: 'add', server: spec('a') }], reloadReasons: [] };
    expect(decideApply(planned, [], policy)).toEqual({ ...planned, decision: 'runtime: 1 ops est. 1 ms < reload est. 1.0 s' });
  });

  it('weighs each op by the size of its backend: a burst into a large backend may go by a reload', () => {
    const costs = { msPerWork: [0.2], check: { ms: 1000, servers: 10_000 }, reload: { ms: 2000, servers: 10_000 } };
    const many = (count: number): Plan => ({ runtimeOps: Array.from({ length: count }, (_, i) => ({ op: 'add', server: spec(`n${i}`) }) as const), reloadReasons: [] });
    const wide = { runtimeApi: true, maxRuntimeOps: 100_000, costs };
    // 1,000 servers into an empty backend: 1000 units × 0.2 ms.
    expect(decideApply(many(1000), [], wide).decision).toBe('runtime: 1000 ops est. 200 ms < reload est. 3.0 s');
    // 10,000 into an empty backend: about 50,500 units × 0.2 ms, more than a reload of the same file.
    expect(decideApply(many(10_000), [], wide).reloadReasons).toEqual(['reload: 10000 ops est. 10.1 s > reload est. 3.0 s']);
  });

  it('turns runtime ops past the operator bound into one reload, keeping the ops for the record', () => {
    const planned: Plan = { runtimeOps: ['a', 'b', 'c'].map((n) => ({ op: 'add', server: spec(n) }) as const), reloadReasons: [] };
    const plan = decideApply(planned, [], policy);
    expect(plan.reloadReasons).toEqual(['reload: 3 ops > --max-runtime-ops 2']);
    expect(plan.runtimeOps).toHaveLength(3);
  });

  it('reloads when the measured runtime would cost more than the measured reload', () => {
    const ops = ['a', 'b'].map((n) => ({ op: 'add', server: spec(n) }) as const);
    const costs = { msPerWork: [400], check: { ms: 100, servers: 2 }, reload: { ms: 200, servers: 2 } };
    expect(decideApply({ runtimeOps: ops, reloadReasons: [] }, [], { ...policy, costs }).reloadReasons).toEqual(['reload: 2 ops est. 800 ms > reload est. 300 ms']);
    // The same change while the last reload's minimum gap still runs: waiting makes the reload dearer.
    expect(decideApply({ runtimeOps: ops, reloadReasons: [] }, [], { ...policy, costs, reloadWaitMs: 1000 }).decision).toBe('runtime: 2 ops est. 800 ms < reload est. 1.3 s');
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
