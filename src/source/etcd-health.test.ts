import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { HealthTracker } from './etcd-health.js';
import type { SourceHealth } from './types.js';

function setup() {
  let now = 1000;
  const lines: Array<{ msg: string }> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    }),
  );
  const reports: SourceHealth[] = [];
  const tracker = new HealthTracker(logger, 5000, () => '42', (h) => reports.push(h), () => now);
  return { tracker, lines, reports, advance: (ms: number) => (now += ms) };
}

describe('HealthTracker', () => {
  it('reports transitions only, and keeps the last error while disconnected', () => {
    const { tracker, reports } = setup();
    tracker.set(false, 'refused');
    tracker.set(false);
    tracker.set(false, 'refused');
    expect(reports).toHaveLength(1);
    expect(tracker.current()).toEqual({
      connected: false,
      lastHeardAt: null,
      revision: '42',
      lastError: 'refused',
      watch: { attached: false, verifiedAt: null },
    });
    tracker.set(true, null);
    expect(reports.at(-1)).toMatchObject({ connected: true, lastError: null });
  });

  it('logs one warning when etcd goes silent and one line when it answers again', () => {
    const { tracker, lines, advance } = setup();
    tracker.heard();
    advance(4000);
    tracker.checkStale();
    expect(lines).toHaveLength(0);
    advance(2000);
    tracker.checkStale();
    tracker.checkStale();
    expect(lines.map((l) => l.msg)).toEqual(['etcd silent; serving the last known state']);
    advance(100);
    tracker.heard();
    expect(lines.map((l) => l.msg).at(-1)).toBe('etcd answering again');
    expect(tracker.current().lastHeardAt).toBe(7100);
  });

  it('a source that never heard from etcd is stale at the first check', () => {
    const { tracker, lines, reports } = setup();
    tracker.checkStale();
    expect(lines).toHaveLength(1);
    expect(reports.at(-1)?.lastHeardAt).toBeNull();
  });

  it('reports answers at most once a second, so the last-heard time keeps moving without a flood', () => {
    const { tracker, reports, advance } = setup();
    tracker.heard();
    expect(reports.at(-1)?.lastHeardAt).toBe(1000);
    advance(400);
    tracker.heard();
    advance(400);
    tracker.heard();
    expect(reports).toHaveLength(1);
    advance(300);
    tracker.heard();
    expect(reports).toHaveLength(2);
    expect(reports.at(-1)?.lastHeardAt).toBe(2100);
  });

  it('says once that etcd answers again after a disconnect, with how long it was gone', () => {
    const { tracker, lines, advance } = setup();
    tracker.heard();
    tracker.set(true, null);
    tracker.set(false, 'refused');
    advance(2000);
    tracker.set(false, 'circuit open');
    advance(1500);
    tracker.heard();
    tracker.heard();
    tracker.set(true, null);
    expect(lines.filter((l) => l.msg === 'etcd answering again')).toEqual([expect.objectContaining({ downMs: 3500 })]);
  });
});
