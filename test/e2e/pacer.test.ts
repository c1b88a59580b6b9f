import { describe, expect, it } from 'vitest';
import { initialPacerState, pace, type PacerState } from './pacer.js';

const options = { startedAt: 1_000, intervalMs: 100, maxInFlight: 3 };

describe('pace', () => {
  it('waits until the first tick is due, then launches one per tick', () => {
    expect(pace(options, initialPacerState, 950, 0)).toEqual({ launch: false, state: initialPacerState, waitMs: 50 });
    const first = pace(options, initialPacerState, 1_000, 0);
    expect(first).toEqual({ launch: true, state: { nextTick: 1, skippedLate: 0, skippedAtCap: 0 }, waitMs: 100 });
    const second = pace(options, first.state, 1_130, 1);
    expect(second).toEqual({ launch: true, state: { nextTick: 2, skippedLate: 0, skippedAtCap: 0 }, waitMs: 70 });
  });

  it('skips and counts the ticks a late caller missed instead of launching them in a burst', () => {
    const late = pace(options, { nextTick: 1, skippedLate: 0, skippedAtCap: 0 }, 1_000 + 5_050, 0);
    expect(late.launch).toBe(true);
    expect(late.state).toEqual({ nextTick: 51, skippedLate: 49, skippedAtCap: 0 });
    expect(late.waitMs).toBe(50);
    // The caller is on schedule again: one launch at the next tick, nothing made up.
    const after = pace(options, late.state, 1_000 + 5_100, 1);
    expect(after.launch).toBe(true);
    expect(after.state.skippedLate).toBe(49);
  });

  it('skips a due tick while the cap of work in flight is reached', () => {
    const full = pace(options, initialPacerState, 1_000, 3);
    expect(full).toEqual({ launch: false, state: { nextTick: 1, skippedLate: 0, skippedAtCap: 1 }, waitMs: 100 });
    expect(pace(options, full.state, 1_100, 2).launch).toBe(true);
  });

  it('never launches more than once per tick however it is driven', () => {
    let state: PacerState = initialPacerState;
    let launched = 0;
    // A caller stuck behind a busy event loop for 20 s, then calling back to back without waiting.
    for (let i = 0; i < 1_000; i += 1) {
      const step = pace(options, state, 21_000, 0);
      if (step.launch) launched += 1;
      state = step.state;
    }
    expect(launched).toBe(1);
    expect(state.skippedLate).toBe(200);
  });
});
