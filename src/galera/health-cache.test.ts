import { describe, expect, it } from 'vitest';
import { createHealthCache } from './health-cache.js';
import type { HealthVerdict } from './node-health.js';

const verdict = (healthy: boolean): HealthVerdict => ({
  healthy,
  reason: healthy ? 'synced' : 'joined',
  message: 'test',
  state: healthy ? 'Synced' : 'Joined',
  wsrepLocalState: healthy ? 4 : 3,
  wsrepClusterStatus: 'Primary',
  wsrepLocalRecvQueue: 0,
});

describe('createHealthCache', () => {
  it('shares one evaluation among concurrent callers', async () => {
    let calls = 0;
    let release: (v: HealthVerdict) => void = () => undefined;
    const cache = createHealthCache(
      () => {
        calls += 1;
        return new Promise<HealthVerdict>((resolve) => (release = resolve));
      },
      { cacheMs: 300, now: () => 0 },
    );
    const all = Promise.all([cache.get(), cache.get(), cache.get()]);
    release(verdict(true));
    const results = await all;
    expect(calls).toBe(1);
    expect(results.map((r) => r.verdict.healthy)).toEqual([true, true, true]);
  });

  it('reuses a result until cacheMs has passed, then evaluates again', async () => {
    let clock = 1_000;
    const answers = [verdict(true), verdict(false)];
    let calls = 0;
    const cache = createHealthCache(
      () => {
        const answer = answers[calls] ?? verdict(false);
        calls += 1;
        return Promise.resolve(answer);
      },
      { cacheMs: 300, now: () => clock },
    );
    expect((await cache.get()).verdict.healthy).toBe(true);
    clock += 299;
    expect((await cache.get()).verdict.healthy).toBe(true);
    expect(calls).toBe(1);
    clock += 1;
    const second = await cache.get();
    expect(second.verdict.healthy).toBe(false);
    expect(second.checkedAt).toBe(1_300);
    expect(calls).toBe(2);
  });

  it('does not cache a rejected evaluation', async () => {
    let calls = 0;
    const cache = createHealthCache(
      () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve(verdict(true));
      },
      { cacheMs: 300, now: () => 0 },
    );
    await expect(cache.get()).rejects.toThrow('boom');
    expect((await cache.get()).verdict.healthy).toBe(true);
  });
});
