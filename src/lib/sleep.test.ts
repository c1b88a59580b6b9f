import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sleep, whenAborted } from './sleep.js';

describe('sleep', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('resolves after the delay', async () => {
    let done = false;
    void sleep(100).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('resolves early, without throwing, when the signal aborts', async () => {
    const controller = new AbortController();
    let done = false;
    void sleep(60_000, controller.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not wait at all on a signal already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await sleep(60_000, controller.signal);
    await whenAborted(controller.signal);
    expect(vi.getTimerCount()).toBe(0);
  });
});
