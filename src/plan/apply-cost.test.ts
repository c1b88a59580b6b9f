import { describe, expect, it } from 'vitest';
import {
  backendSizes,
  chooseApplyWay,
  createCostRecorder,
  DEFAULT_MS_PER_WORK,
  DEFAULT_RELOAD_MS,
  estimateCosts,
  formatMs,
  NO_FIGURES,
  runtimeWork,
  withRuntimeSample,
} from './apply-cost.js';

const adds = (backend: string, count: number): { op: string; backend: string }[] => Array.from({ length: count }, () => ({ op: 'add', backend }));

describe('runtimeWork', () => {
  it('counts an op in a backend of up to 1000 servers as 1', () => {
    expect(runtimeWork(adds('galera', 500), new Map([['galera', 3]]))).toBe(500);
  });

  it('counts each op by the size of its own backend as it grows, adds included', () => {
    // Backend of 2000 growing by one per add: 2.000, 2.001, 2.002; the web tier stays at 1.
    const ops = [...adds('galera', 3), { op: 'set-weight', backend: 'web' }, { op: 'remove', backend: 'galera' }];
    expect(runtimeWork(ops, new Map([['galera', 2000], ['web', 2]]))).toBeCloseTo(2 + 2.001 + 2.002 + 1 + 2.003);
  });

  it('makes 10,000 servers added to one backend about 50 times the work of 1,000', () => {
    const small = runtimeWork(adds('galera', 1000), new Map());
    const large = runtimeWork(adds('galera', 10_000), new Map());
    expect(large / small).toBeGreaterThan(45);
    expect(large / small).toBeLessThan(55);
  });

  it('counts servers per backend', () => {
    expect(backendSizes([{ backend: 'a' }, { backend: 'b' }, { backend: 'a' }])).toEqual(new Map([['a', 2], ['b', 1]]));
  });
});

describe('estimateCosts', () => {
  it('uses the defaults before anything was timed', () => {
    expect(estimateCosts(NO_FIGURES, 500, 600)).toEqual({ runtimeMs: 500 * DEFAULT_MS_PER_WORK, reloadMs: DEFAULT_RELOAD_MS });
  });

  it('takes the median of the recent batches per unit of work, and leaves out batches too small to tell', () => {
    let figures = NO_FIGURES;
    for (const [ops, work, ms] of [[100, 100, 10], [1000, 2000, 100], [5, 5, 400], [200, 200, 100], [400, 400, 20]] as const) {
      figures = withRuntimeSample(figures, ops, work, ms);
    }
    // Per unit: 0.1, 0.05, (5-op batch left out), 0.5, 0.05 → median 0.075.
    expect(figures.msPerWork).toEqual([0.1, 0.05, 0.5, 0.05]);
    expect(estimateCosts(figures, 10_000, 10_000).runtimeMs).toBeCloseTo(750);
  });

  it('keeps only the last few figures', () => {
    let figures = NO_FIGURES;
    for (let i = 1; i <= 8; i++) figures = withRuntimeSample(figures, 100, 100, i * 100);
    expect(figures.msPerWork).toEqual([4, 5, 6, 7, 8]);
  });

  it('counts a reload as a check and a start; with only a check timed, the start as much again', () => {
    const recorder = createCostRecorder();
    recorder.recordCheck(400, 9000);
    expect(estimateCosts(recorder.figures(), 10, 9000).reloadMs).toBe(800);
    recorder.recordReload(2500, 9000);
    expect(estimateCosts(recorder.figures(), 10, 9000).reloadMs).toBe(2900);
  });

  it("grows a small file's timings with the servers to come, beyond a fixed part, and never shrinks them", () => {
    const figures = { ...NO_FIGURES, check: { ms: 40, servers: 3 }, reload: { ms: 100, servers: 3 } };
    // (10000 + 1000) / (3 + 1000) ≈ 10.97 times.
    expect(estimateCosts(figures, 1, 10_000).reloadMs).toBeCloseTo(140 * (11_000 / 1003));
    expect(estimateCosts(figures, 1, 0).reloadMs).toBe(140);
  });

  it('adds what is left of the minimum gap between reloads', () => {
    expect(estimateCosts(NO_FIGURES, 1, 1, 1500).reloadMs).toBe(DEFAULT_RELOAD_MS + 1500);
  });
});

describe('chooseApplyWay', () => {
  it('takes the runtime when its estimate is lower, and says both', () => {
    expect(chooseApplyWay(10_000, { runtimeMs: 600, reloadMs: 3100 }, 100_000)).toEqual({ way: 'runtime', reason: 'runtime: 10000 ops est. 600 ms < reload est. 3.1 s' });
  });

  it('takes a reload when the runtime would cost more', () => {
    expect(chooseApplyWay(50_000, { runtimeMs: 5000, reloadMs: 3100 }, 100_000)).toEqual({ way: 'reload', reason: 'reload: 50000 ops est. 5.0 s > reload est. 3.1 s' });
  });

  it('keeps the sessions on a tie', () => {
    expect(chooseApplyWay(10, { runtimeMs: 10, reloadMs: 10 }, 100).way).toBe('runtime');
  });

  it('reloads past the operator bound whatever the estimate', () => {
    expect(chooseApplyWay(201, { runtimeMs: 1, reloadMs: 10_000 }, 200)).toEqual({ way: 'reload', reason: 'reload: 201 ops > --max-runtime-ops 200' });
  });
});

describe('formatMs', () => {
  it('says ms below a second and seconds with one decimal above', () => {
    expect([formatMs(0.4), formatMs(999.4), formatMs(1000), formatMs(3149)]).toEqual(['0 ms', '999 ms', '1.0 s', '3.1 s']);
  });
});
