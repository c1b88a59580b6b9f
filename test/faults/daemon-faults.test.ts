import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDaemonTable, runDaemonRounds, startDaemonWorld, summarizeDaemon, type DaemonWorld } from './daemon-harness.js';

// CI-sized: one round of each fault the daemon must survive, short outages. bench/soak-daemon.ts runs 20.
const PAUSE_MS = Number(process.env.DAEMON_FAULT_PAUSE_MS ?? 3000);

let world: DaemonWorld | undefined;

beforeAll(async () => {
  world = await startDaemonWorld({ repairInterval: process.env.DAEMON_FAULT_REPAIR ?? '5s' });
}, 120_000);

afterAll(async () => {
  await world?.close();
}, 60_000);

describe('watch daemon feeding HAProxy under faults (3-member etcd, churn, restarts)', () => {
  it('converges HAProxy to etcd after every fault, never serves no server, never exits by itself', { timeout: 300_000 }, async () => {
    if (world === undefined) throw new Error('daemon fault world did not start');
    const rounds = Number(process.env.DAEMON_FAULT_ROUNDS ?? world.faults.length);
    const results = await runDaemonRounds(world, rounds, { pauseMs: PAUSE_MS, convergeTimeoutMs: 30_000 });
    const summary = summarizeDaemon(results);
    const report = world.report();
    console.log(formatDaemonTable(results, summary, report));
    expect(results.map((r) => r.error)).toEqual(results.map(() => null));
    expect(summary.passed).toBe(rounds);
    expect(summary.lost).toBe(0);
    expect(summary.duplicates).toBe(0);
    expect(summary.written).toBeGreaterThan(0);
    expect(summary.shownByPass).toBeGreaterThan(0);
    expect(world.monitor.zeroSamples).toBe(0);
    expect(world.monitor.samples).toBeGreaterThan(0);
    expect(report.unexpectedExits).toEqual([]);
    expect(report.fatalLines).toEqual([]);
  });
});
