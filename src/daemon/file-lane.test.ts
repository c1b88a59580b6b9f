import { describe, expect, it } from 'vitest';
import { FileLane } from './file-lane.js';
import type { LiveConfig, StagedCheck } from './live-config.js';
import { silentLogger } from '../observe/logger.js';

function slowLive(reject: (text: string) => boolean = () => false) {
  const checked: string[] = [];
  let file: string | null = null;
  const live: LiveConfig = {
    path: '/tmp/haproxy.cfg',
    read: async () => file,
    equivalent: (a, b) => a === b,
    async check(text): Promise<StagedCheck> {
      checked.push(text);
      await new Promise((r) => setTimeout(r, 5));
      return { ok: !reject(text), stagedPath: text, diagnostics: [], summary: 'bad' };
    },
    async commit(staged) {
      file = staged.stagedPath;
    },
    async restore(text) {
      file = text;
    },
    markUnconfirmed: async () => undefined,
    unconfirmed: async () => null,
    confirm: async () => undefined,
  };
  return { live, checked, file: () => file };
}

describe('FileLane', () => {
  it('writes the latest text and skips those superseded while a check ran', async () => {
    const { live, checked, file } = slowLive();
    const lane = new FileLane(live, silentLogger(), () => undefined);
    lane.submit('v1');
    lane.submit('v2');
    lane.submit('v3');
    expect(lane.latest()).toBe('v3');
    await lane.settle();
    expect(checked).toEqual(['v1', 'v3']);
    expect(file()).toBe('v3');
    expect(lane.latest()).toBeNull();
  });

  it('reports a text the check refused, and remembers it until another is submitted', async () => {
    const rejected: string[] = [];
    const { live, file } = slowLive((t) => t === 'bad');
    const lane = new FileLane(live, silentLogger(), (t) => rejected.push(t));
    lane.submit('good');
    await lane.settle();
    lane.submit('bad');
    await lane.settle();
    expect(file()).toBe('good');
    expect(rejected).toEqual(['bad']);
    expect(lane.isRejected('bad')).toBe(true);
    lane.submit('good2');
    expect(lane.isRejected('bad')).toBe(false);
    await lane.settle();
    expect(file()).toBe('good2');
  });
});
