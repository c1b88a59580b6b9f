import { describe, expect, it } from 'vitest';
import { WatchLiveness } from './watch-liveness.js';

function setup(graceMs = 1000) {
  let now = 0;
  return { liveness: new WatchLiveness(graceMs, () => now), advance: (ms: number) => (now += ms) };
}

describe('WatchLiveness', () => {
  it('a watch etcd never attaches while it answers reads is stalled after the grace', () => {
    const { liveness, advance } = setup();
    liveness.detach();
    expect(liveness.observe(false)).toBeNull();
    advance(999);
    expect(liveness.observe(false)).toBeNull();
    advance(1);
    expect(liveness.observe(false)).toMatch(/not been attached for 1000 ms/);
    expect(liveness.state()).toEqual({ attached: false, verifiedAt: null });
  });

  it('counts the detached time from the first answer, not from while etcd was down', () => {
    const { liveness, advance } = setup();
    liveness.attach();
    liveness.detach();
    advance(60_000);
    expect(liveness.observe(false)).toBeNull();
    liveness.attach();
    expect(liveness.observe(false)).toBeNull();
  });

  it('an attached watch that owes changes and delivers nothing is stalled; one that delivers is not', () => {
    const { liveness, advance } = setup();
    liveness.attach();
    expect(liveness.observe(true)).toBeNull();
    advance(600);
    liveness.delivered();
    expect(liveness.observe(true)).toBeNull();
    advance(900);
    expect(liveness.observe(true)).toBeNull();
    advance(100);
    expect(liveness.observe(true)).toMatch(/not delivered for 1000 ms/);
  });

  it('is verified by a delivery or by a read that finds nothing owed, only while attached', () => {
    const { liveness, advance } = setup();
    advance(10);
    liveness.delivered();
    expect(liveness.state().verifiedAt).toBeNull();
    liveness.attach();
    advance(10);
    liveness.delivered();
    expect(liveness.state()).toEqual({ attached: true, verifiedAt: 20 });
    advance(10);
    liveness.observe(true);
    expect(liveness.state().verifiedAt).toBe(20);
    liveness.observe(false);
    expect(liveness.state().verifiedAt).toBe(30);
  });
});
