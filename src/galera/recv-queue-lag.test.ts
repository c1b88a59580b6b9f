import { describe, expect, it } from 'vitest';
import { NOT_LAGGING, trackRecvQueue, type LagState, type RecvQueuePolicy } from './recv-queue-lag.js';

/** The lag state after each read of `queues`, starting from NOT_LAGGING. */
function run(queues: readonly (number | null)[], policy: RecvQueuePolicy): LagState[] {
  const states: LagState[] = [];
  let state = NOT_LAGGING;
  for (const queue of queues) {
    state = trackRecvQueue(state, queue, policy);
    states.push(state);
  }
  return states;
}

const lagging = (states: readonly LagState[]): boolean[] => states.map((s) => s.lagging);

describe('trackRecvQueue', () => {
  it('never lags without --max-recv-queue', () => {
    expect(lagging(run([0, 1_000_000, 5], {}))).toEqual([false, false, false]);
  });

  it('lags once the queue is above the limit, not at it', () => {
    expect(lagging(run([100, 101], { maxRecvQueue: 100 }))).toEqual([false, true]);
  });

  it('passes again only after rise consecutive reads below half the limit', () => {
    const states = run([150, 40, 40, 40, 40], { maxRecvQueue: 100, rise: 3 });
    expect(lagging(states)).toEqual([true, true, true, false, false]);
    expect(states.map((s) => s.calmReads)).toEqual([0, 1, 2, 0, 0]);
  });

  it('does not flap while the queue hovers between half the limit and the limit', () => {
    // 60 and 90 are under the limit: a plain threshold would pass the node on each of them.
    const states = run([150, 60, 90, 60, 90, 60], { maxRecvQueue: 100, rise: 1 });
    expect(lagging(states)).toEqual([true, true, true, true, true, true]);
  });

  it('starts counting again when a read in the middle is not below half', () => {
    const states = run([150, 10, 10, 50, 10, 10, 10], { maxRecvQueue: 100, rise: 3 });
    expect(lagging(states)).toEqual([true, true, true, true, true, true, false]);
  });

  it('starts counting again when the queue passes the limit during the calm reads', () => {
    const states = run([150, 10, 10, 200, 10, 10, 10], { maxRecvQueue: 100, rise: 3 });
    expect(lagging(states)).toEqual([true, true, true, true, true, true, false]);
  });

  it('defaults rise to 3', () => {
    expect(lagging(run([150, 0, 0, 0], { maxRecvQueue: 100 }))).toEqual([true, true, true, false]);
  });

  it('keeps the state through reads that report no queue', () => {
    const states = run([150, 10, null, 10, null, 10], { maxRecvQueue: 100, rise: 3 });
    expect(lagging(states)).toEqual([true, true, true, true, true, false]);
    expect(run([null], { maxRecvQueue: 100 })).toEqual([NOT_LAGGING]);
  });

  it('with a limit of 1, only an empty queue counts as calm', () => {
    expect(lagging(run([2, 1, 0], { maxRecvQueue: 1, rise: 1 }))).toEqual([true, true, false]);
  });
});
