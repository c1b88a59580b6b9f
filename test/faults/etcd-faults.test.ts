import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable, runRounds, startFaultWorld, summarize, type FaultWorld } from './etcd-rounds.js';

// CI-sized: one pass over every fault plus one more, with short outages. bench/soak-etcd.ts runs 20.
const ROUNDS = Number(process.env.ETCD_FAULT_ROUNDS ?? 5);
const PAUSE_MS = Number(process.env.ETCD_FAULT_PAUSE_MS ?? 3000);

let world: FaultWorld | undefined;

beforeAll(async () => {
  world = await startFaultWorld();
});

afterAll(async () => {
  await world?.close();
});

describe('etcd source under faults (3-member cluster, churn, proxy cuts)', () => {
  it(`survives ${ROUNDS} fault rounds with nothing lost`, { timeout: 600_000 }, async () => {
    if (world === undefined) throw new Error('fault world did not start');
    const results = await runRounds(world, ROUNDS, { pauseMs: PAUSE_MS, convergeTimeoutMs: 30_000 });
    const summary = summarize(results);
    console.log(formatTable(results, summary));
    expect(results.map((r) => r.error)).toEqual(results.map(() => null));
    expect(summary.passed).toBe(ROUNDS);
    expect(summary.lost).toBe(0);
    expect(summary.duplicates).toBe(0);
    expect(summary.written).toBeGreaterThan(0);
    expect(summary.seenAsEvents).toBeGreaterThan(0);
  });
});
