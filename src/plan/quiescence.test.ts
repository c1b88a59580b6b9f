import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDuration, parseWait, Quiescence } from './quiescence.js';

describe('Quiescence', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires once, MIN after the last change of a quiet burst', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 50, maxMs: 500 }, fire);
    q.poke();
    vi.advanceTimersByTime(30);
    q.poke();
    vi.advanceTimersByTime(49);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    expect(q.pending).toBe(false);
  });

  it('never waits past the first change + MAX under a steady stream', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 50, maxMs: 200 }, fire);
    for (let t = 0; t < 200; t += 10) {
      q.poke();
      vi.advanceTimersByTime(10);
    }
    expect(fire).toHaveBeenCalledTimes(1);
    q.poke();
    vi.advanceTimersByTime(50);
    expect(fire).toHaveBeenCalledTimes(2);
  });

  it('a thousand pokes in one tick fire one apply', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 20, maxMs: 100 }, fire);
    for (let i = 0; i < 1000; i++) q.poke();
    vi.advanceTimersByTime(100);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('cancel drops the pending apply', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 20, maxMs: 100 }, fire);
    q.poke();
    q.cancel();
    vi.advanceTimersByTime(200);
    expect(fire).not.toHaveBeenCalled();
  });
});

describe('parseWait', () => {
  it('reads MIN:MAX with units and MIN alone', () => {
    expect(parseWait('50ms:500ms')).toEqual({ minMs: 50, maxMs: 500 });
    expect(parseWait('1s:1m')).toEqual({ minMs: 1000, maxMs: 60_000 });
    expect(parseWait('25')).toEqual({ minMs: 25, maxMs: 100 });
  });

  it('rejects MAX below MIN, empty parts and garbage', () => {
    expect(() => parseWait('2s:1s')).toThrow(/MAX must not be smaller/);
    expect(() => parseWait('1s:')).toThrow(/MIN or MIN:MAX/);
    expect(() => parseWait('1s:2s:3s')).toThrow(/MIN or MIN:MAX/);
    expect(() => parseWait('fast')).toThrow(/not a duration/);
    expect(() => parseDuration('-1s', 'x')).toThrow(/not a duration/);
    expect(() => parseDuration('2d', 'x')).toThrow(/not a duration/);
  });
});
