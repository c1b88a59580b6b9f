import { describe, expect, it } from 'vitest';
import { RepeatLimiter } from './repeat-limiter.js';

describe('RepeatLimiter', () => {
  it('lets the first occurrence through, then one summary per window with the count held back', () => {
    let t = 0;
    const limiter = new RepeatLimiter(30_000, () => t);
    expect(limiter.admit('watch down')).toEqual({ log: true, repeats: 0 });
    const held = [];
    for (t = 10; t < 30_000; t += 10) held.push(limiter.admit('watch down').log);
    expect(held.every((log) => !log)).toBe(true);
    t = 30_000;
    expect(limiter.admit('watch down')).toEqual({ log: true, repeats: held.length });
    t = 30_005;
    expect(limiter.admit('watch down').log).toBe(false);
  });

  it('counts each message on its own, and starts over once the condition cleared', () => {
    let t = 0;
    const limiter = new RepeatLimiter(1000, () => t);
    expect(limiter.admit('a').log).toBe(true);
    expect(limiter.admit('b').log).toBe(true);
    t = 5;
    expect(limiter.admit('a').log).toBe(false);
    limiter.reset();
    expect(limiter.admit('a')).toEqual({ log: true, repeats: 0 });
  });
});
