import { describe, expect, it } from 'vitest';
import { Backoff, type BackoffOptions } from './backoff.js';

function durations(options: BackoffOptions, count: number): number[] {
  const out: number[] = [];
  let backoff = new Backoff(options);
  for (let i = 0; i < count; i += 1) {
    out.push(backoff.duration);
    backoff = backoff.next();
  }
  return out;
}

describe('Backoff half-ceiling (registration)', () => {
  it('doubles up to the ceiling and starts over after reset', () => {
    const options = { initialMs: 100, maxMs: 400, jitter: 'half-ceiling', random: () => 0.999999 } as const;
    expect(durations(options, 4)).toEqual([100, 200, 400, 400]);
    expect(new Backoff(options).next().next().reset().duration).toBe(100);
  });

  it('never waits less than half the ceiling', () => {
    expect(durations({ initialMs: 100, maxMs: 400, jitter: 'half-ceiling', random: () => 0 }, 3)).toEqual([50, 100, 200]);
  });
});

describe('Backoff half-initial (etcd reconnects)', () => {
  it('grows from the initial delay to the cap and stays within bounds', () => {
    const maxima = durations({ initialMs: 100, maxMs: 3000, jitter: 'half-initial', random: () => 1 }, 10);
    expect(maxima.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 3000]);
    expect(maxima.at(-1)).toBe(3000);
  });

  it('never waits less than half the initial delay (no spinning)', () => {
    expect(new Set(durations({ initialMs: 100, maxMs: 3000, jitter: 'half-initial', random: () => 0 }, 60))).toEqual(new Set([50]));
  });
});

describe('Backoff twenty-percent (sync retries)', () => {
  it('stays within 20% of the doubled delay, which stops at the cap', () => {
    expect(durations({ initialMs: 500, maxMs: 4000, jitter: 'twenty-percent', random: () => 0 }, 5)).toEqual([400, 800, 1600, 3200, 3200]);
    expect(durations({ initialMs: 500, maxMs: 4000, jitter: 'twenty-percent', random: () => 0.999999 }, 5)).toEqual([600, 1200, 2400, 4800, 4800]);
  });
});
