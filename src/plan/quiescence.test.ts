import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDuration, parseWait, Quiescence } from './quiescence.js';

describe('Quiescence', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A quiescence whose passes are driven by hand, as the watch loop does: fire begins one, `end` ends it. */
  function driven(wait: { minMs: number; maxMs: number }) {
    const fired: number[] = [];
    const q: Quiescence = new Quiescence(wait, () => {
      fired.push(Date.now());
      q.begin(true);
    });
    return { q, fired };
  }

  it('the first change of an idle loop fires at once (0 ms)', () => {
    const { q, fired } = driven({ minMs: 50, maxMs: 500 });
    const t0 = Date.now();
    q.poke();
    expect(fired).toEqual([t0]);
    expect(q.pending).toBe(false);
  });

  it('a burst of 1000 changes during the leading pass is one more pass, right when that pass ends', () => {
    const { q, fired } = driven({ minMs: 20, maxMs: 100 });
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) q.poke();
    expect(fired).toEqual([t0]);
    vi.advanceTimersByTime(30);
    q.end();
    // The last change came 30 ms ago, more than MIN: nothing left to wait for.
    expect(fired).toEqual([t0, t0 + 30]);
    q.end();
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(2);
  });

  it('a change right after a pass waits MIN, pushed back by each further change', () => {
    const { q, fired } = driven({ minMs: 50, maxMs: 500 });
    q.poke();
    // A pass longer than MIN: the window counts from its end.
    vi.advanceTimersByTime(80);
    q.end();
    const ended = Date.now();
    vi.advanceTimersByTime(1);
    q.poke();
    vi.advanceTimersByTime(49);
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([ended - 80, ended + 51]);
    q.end();
    vi.advanceTimersByTime(30);
    q.poke();
    vi.advanceTimersByTime(30);
    q.poke();
    vi.advanceTimersByTime(49);
    expect(fired).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(fired).toHaveLength(3);
  });

  it('once idle for MIN after a pass, the next change fires at once again', () => {
    const { q, fired } = driven({ minMs: 50, maxMs: 500 });
    q.poke();
    q.end();
    vi.advanceTimersByTime(50);
    q.poke();
    expect(fired).toHaveLength(2);
  });

  it('a change during a pass waits for it to end, then MIN after it came at most', () => {
    const { q, fired } = driven({ minMs: 50, maxMs: 500 });
    q.poke();
    vi.advanceTimersByTime(10);
    q.poke();
    vi.advanceTimersByTime(20);
    q.end();
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(29);
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fired).toHaveLength(2);
  });

  it('never waits past the first unapplied change + MAX under a steady stream', () => {
    const { q, fired } = driven({ minMs: 50, maxMs: 200 });
    q.poke();
    q.end();
    // A change every 10 ms, never quiet for MIN; each pass ends as soon as it fires.
    const waits: number[] = [];
    let firstUnapplied: number | null = null;
    for (let t = 0; t < 1000; t += 10) {
      const before = fired.length;
      firstUnapplied ??= Date.now();
      q.poke();
      vi.advanceTimersByTime(10);
      if (fired.length > before) {
        waits.push(fired.at(-1)! - firstUnapplied);
        firstUnapplied = null;
        q.end();
      }
    }
    expect(waits).toEqual([200, 200, 200, 200, 200]);
  });

  it('a drift repair holds changes back without taking them', () => {
    const { q, fired } = driven({ minMs: 20, maxMs: 100 });
    q.poke();
    q.end();
    vi.advanceTimersByTime(100);
    q.begin(false);
    q.poke();
    vi.advanceTimersByTime(100);
    expect(fired).toHaveLength(1);
    q.end();
    expect(fired).toHaveLength(2);
  });

  it('without a pass being begun, changes after a fire are still coalesced', () => {
    const fire = vi.fn();
    const q = new Quiescence({ minMs: 20, maxMs: 100 }, fire);
    for (let i = 0; i < 1000; i++) q.poke();
    expect(fire).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(20);
    expect(fire).toHaveBeenCalledTimes(2);
  });

  it('cancel drops the pending pass', () => {
    const { q, fired } = driven({ minMs: 20, maxMs: 100 });
    q.poke();
    q.end();
    q.poke();
    q.cancel();
    vi.advanceTimersByTime(200);
    expect(fired).toHaveLength(1);
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
