import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { implicitService } from '../render/implicit-service.js';
import { WatchLoop } from './watch-loop.js';
import type { ClusterSource, SourceListener, SourceView } from '../source/types.js';
import type { SyncDeps } from './sync-pass.js';
import type { LiveConfig } from './live-config.js';
import type { Applier, ApplyResult } from '../apply/types.js';
import { silentLogger } from '../observe/logger.js';
import { createMetrics } from '../observe/metrics.js';
import { replaceHostNames } from '../resolve/resolve-hosts.js';
import type { ClusterState, KeyValue } from '../model/types.js';

const PREFIX = '/p';

class FakeSource implements ClusterSource {
  listener: SourceListener | null = null;
  closed = false;
  async readOnce(): Promise<SourceView> {
    throw new Error('not used');
  }
  async start(listener: SourceListener) {
    this.listener = listener;
  }
  health() {
    return { connected: true, lastHeardAt: null, revision: null, lastError: null, watch: { attached: true, verifiedAt: null } };
  }
  async close() {
    this.closed = true;
  }
  emitKvs(revision: number, kvs: KeyValue[]) {
    this.listener?.onChange({ revision: String(revision), cause: 'watch', kvs });
  }
  emit(revision: number, nodes: string[]) {
    this.listener?.onChange({ revision: String(revision), cause: 'watch', kvs: nodes.map((ip, i) => ({ key: `${PREFIX}/n${i}`, value: ip })) });
  }
}

function memoryLive(): LiveConfig & { file: string | null } {
  const live = {
    path: '/tmp/haproxy.cfg',
    file: null as string | null,
    async read() {
      return live.file;
    },
    equivalent: (a: string, b: string) => a === b,
    async check(text: string) {
      return { ok: true, stagedPath: text, diagnostics: [], summary: '' };
    },
    async commit(staged: { stagedPath: string }) {
      live.file = staged.stagedPath;
    },
    async restore(text: string) {
      live.file = text;
    },
    markUnconfirmed: async () => undefined,
    unconfirmed: async () => null,
    confirm: async () => undefined,
  };
  return live;
}

function scriptedApplier(outcomes: ApplyResult['outcome'][]): Applier & { applied: string[] } {
  const applied: string[] = [];
  return {
    applied,
    async apply({ next }) {
      const outcome = outcomes.shift() ?? 'runtime';
      if (outcome !== 'failed') applied.push(next);
      return { outcome, plan: { runtimeOps: [], reloadReasons: [] }, fellBackToReload: false, durationMs: 0, ...(outcome === 'failed' ? { error: new Error('socket gone') } : {}) };
    },
    async reconcile() {
      return { outcome: 'noop', plan: { runtimeOps: [], reloadReasons: [] }, fellBackToReload: false, durationMs: 0 };
    },
  };
}

function setUp(outcomes: ApplyResult['outcome'][] = [], extra: Partial<SyncDeps> = {}, repairMs = 0, resolveMs = 0) {
  const source = new FakeSource();
  const live = memoryLive();
  const applier = scriptedApplier(outcomes);
  const deps: SyncDeps = {
    services: [implicitService({}, { prefix: PREFIX, minServers: 1 })],
    renderer: { render: (s) => s.nodes.map((n) => n.address).join(',') },
    live,
    applier,
    logger: silentLogger(),
    metrics: createMetrics(),
    ...extra,
  };
  const loop = new WatchLoop(source, deps, { wait: { minMs: 20, maxMs: 100 }, repairMs, retryMinMs: 500, retryMaxMs: 4000, resolveMs });
  return { source, live, applier, loop };
}

describe('WatchLoop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('applies the first change of an idle loop at once', async () => {
    const { source, applier, loop } = setUp();
    await loop.start();
    source.emit(1, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(0);
    expect(applier.applied).toEqual(['10.0.0.1']);
    await loop.stop();
  });

  it('folds a burst of changes into at most two applies, the last of the latest view', async () => {
    const { source, applier, loop } = setUp();
    await loop.start();
    for (let i = 1; i <= 1000; i++) source.emit(i, ['10.0.0.1', `10.0.1.${i % 250}`]);
    await vi.advanceTimersByTimeAsync(150);
    expect(applier.applied).toEqual(['10.0.0.1,10.0.1.1', '10.0.0.1,10.0.1.0']);
    await loop.stop();
  });

  it('a change right after a pass waits MIN (20 ms)', async () => {
    const { source, applier, loop } = setUp();
    await loop.start();
    source.emit(1, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(1);
    source.emit(2, ['10.0.0.2']);
    await vi.advanceTimersByTimeAsync(19);
    expect(applier.applied).toEqual(['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(applier.applied).toEqual(['10.0.0.1', '10.0.0.2']);
    await loop.stop();
  });

  it('a continuous stream of changes is applied at least every MAX (100 ms)', async () => {
    const { source, applier, loop } = setUp();
    await loop.start();
    const appliedAt: number[] = [];
    loop.onPass((r) => {
      if (r.outcome !== 'noop') appliedAt.push(Date.now());
    });
    const t0 = Date.now();
    for (let i = 1; i <= 100; i++) {
      source.emit(i, [`10.0.1.${i}`]);
      await vi.advanceTimersByTimeAsync(5);
    }
    expect(applier.applied[0]).toBe('10.0.1.1');
    expect(appliedAt[0]).toBe(t0);
    // Never quiet for MIN: each pass comes MAX after the first change it takes (5 ms after the leading
    // pass, then the change that came as the previous pass ended).
    const gaps = appliedAt.slice(1).map((t, i) => t - appliedAt[i]!);
    expect(gaps).toEqual([105, 100, 100, 100]);
    expect(applier.applied.at(-1)).toBe('10.0.1.81');
    await loop.stop();
  });

  it('retries a failed apply with backoff until HAProxy takes it', async () => {
    const { source, applier, live, loop } = setUp(['failed', 'failed', 'runtime']);
    live.file = '10.0.0.9';
    await loop.start();
    source.emit(5, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(50);
    expect(applier.applied).toEqual([]);
    expect(live.file).toBe('10.0.0.9');
    await vi.advanceTimersByTimeAsync(2000);
    expect(applier.applied).toEqual(['10.0.0.1']);
    expect(live.file).toBe('10.0.0.1');
    await loop.stop();
  });

  it('a change during a pass is applied by the next pass, never lost', async () => {
    const { source, applier, loop } = setUp();
    // The first apply is still running when the second change arrives and its quiet time ends.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const apply = applier.apply.bind(applier);
    let calls = 0;
    applier.apply = async (input) => {
      calls += 1;
      if (calls === 1) await held;
      return apply(input);
    };
    await loop.start();
    source.emit(1, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(25);
    expect(calls).toBe(1);
    source.emit(2, ['10.0.0.1', '10.0.0.2']);
    await vi.advanceTimersByTimeAsync(100);
    expect(applier.applied).toEqual([]);
    release();
    await vi.advanceTimersByTimeAsync(100);
    expect(applier.applied).toEqual(['10.0.0.1', '10.0.0.1,10.0.0.2']);
    await loop.stop();
  });

  it('drift repair reconciles against the file, never against a text the file lane rejected', async () => {
    const listing = { render: (st: { nodes: readonly { name: string; address: string }[] }) => `listen galera\n${st.nodes.map((n) => `    server ${n.name} ${n.address}:3306`).join('\n')}\n` };
    const { source, applier, live, loop } = setUp([], { renderer: listing }, 1000);
    // Same structure as the file: the change takes the runtime-first way, then the lane's check refuses it.
    live.check = async (text: string) => ({ ok: !text.includes('10.0.0.2'), stagedPath: text, diagnostics: [], summary: 'refused' });
    const onDisk = listing.render({ nodes: [{ name: 'n0', address: '10.0.0.1' }] });
    live.file = onDisk;
    const reconciled: string[] = [];
    applier.reconcile = async (config) => {
      reconciled.push(config);
      return { outcome: 'noop', plan: { runtimeOps: [], reloadReasons: [] }, fellBackToReload: false, durationMs: 0 };
    };
    await loop.start();
    source.emit(2, ['10.0.0.1', '10.0.0.2']);
    await vi.advanceTimersByTimeAsync(3500);
    expect(applier.applied.some((t) => t.includes('10.0.0.2'))).toBe(true);
    expect(live.file).toBe(onDisk);
    expect(reconciled.length).toBeGreaterThanOrEqual(3);
    expect(reconciled.filter((t) => t !== onDisk)).toEqual([]);
    await loop.stop();
  });

  it('stop closes the source and cancels pending work', async () => {
    const { source, applier, loop } = setUp();
    await loop.start();
    source.emit(1, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(1);
    // Within MIN of the first pass: waiting, and dropped by stop.
    source.emit(2, ['10.0.0.2']);
    await loop.stop();
    await vi.advanceTimersByTimeAsync(500);
    expect(source.closed).toBe(true);
    expect(applier.applied).toEqual(['10.0.0.1']);
  });

  it('in single-writer mode looks again at the writer every second without an etcd event', async () => {
    const listing = { render: (st: { nodes: readonly { name: string; address: string }[] }) => `listen galera\n${st.nodes.map((n) => `    server ${n.name} ${n.address}:3306`).join('\n')}\n` };
    const { source, applier, loop } = setUp([], { services: [implicitService({ writer: 'single' }, { prefix: PREFIX, minServers: 1 })], renderer: listing });
    let asked = 0;
    applier.runtime = async () => {
      asked += 1;
      return [];
    };
    await loop.start();
    source.emit(1, ['10.0.0.1']);
    await vi.advanceTimersByTimeAsync(100);
    const afterFirst = asked;
    await vi.advanceTimersByTimeAsync(3100);
    expect(asked - afterFirst).toBeGreaterThanOrEqual(3);
    await loop.stop();
  });

  it('looks host names up again every resolve interval, and only while nodes are registered by name', async () => {
    const table = new Map([['db.example', '10.0.0.1']]);
    let lookups = 0;
    let names = false;
    const hosts = {
      hasNames: () => names,
      resolve: async (state: ClusterState) => {
        lookups += 1;
        names = state.nodes.some((n) => n.address === 'db.example');
        return replaceHostNames(state, new Map([['db.example', { ok: true, address: table.get('db.example') ?? '' } as const]]));
      },
    };
    const { source, applier, loop } = setUp([], { hosts }, 0, 1000);
    await loop.start();
    source.emit(1, ['db.example']);
    await vi.advanceTimersByTimeAsync(150);
    expect(applier.applied).toEqual(['10.0.0.1']);
    table.set('db.example', '10.0.0.2');
    await vi.advanceTimersByTimeAsync(1100);
    expect(applier.applied).toEqual(['10.0.0.1', '10.0.0.2']);
    source.emit(2, ['10.0.0.3']);
    await vi.advanceTimersByTimeAsync(150);
    const before = lookups;
    await vi.advanceTimersByTimeAsync(3000);
    expect(lookups).toBe(before);
    await loop.stop();
  });

  describe('a seed node whose port may follow its ip', () => {
    const endpoints = { render: (st: ClusterState) => st.nodes.map((n) => `${n.address}:${n.port}`).join(',') };
    const first: KeyValue = { key: `${PREFIX}/a/ip`, value: '10.0.0.1', createRevision: 1n };
    const ip: KeyValue = { key: `${PREFIX}/b/ip`, value: '10.0.0.2', createRevision: 2n };
    const port: KeyValue = { key: `${PREFIX}/b/port`, value: '3307', createRevision: 3n };

    it('a settle pass adds it on the default port when no port comes', async () => {
      const { source, applier, loop } = setUp([], { renderer: endpoints });
      await loop.start();
      source.emitKvs(1, [first]);
      await vi.advanceTimersByTimeAsync(30);
      source.emitKvs(2, [first, ip]);
      await vi.advanceTimersByTimeAsync(30);
      expect(applier.applied).toEqual(['10.0.0.1:3306']);
      await vi.advanceTimersByTimeAsync(100);
      expect(applier.applied).toEqual(['10.0.0.1:3306', '10.0.0.1:3306,10.0.0.2:3306']);
      await loop.stop();
    });

    it('never serves it on the default port when the port follows', async () => {
      const { source, applier, loop } = setUp([], { renderer: endpoints });
      await loop.start();
      source.emitKvs(1, [first]);
      await vi.advanceTimersByTimeAsync(30);
      source.emitKvs(2, [first, ip]);
      await vi.advanceTimersByTimeAsync(30);
      source.emitKvs(3, [first, ip, port]);
      await vi.advanceTimersByTimeAsync(500);
      expect(applier.applied).toEqual(['10.0.0.1:3306', '10.0.0.1:3306,10.0.0.2:3307']);
      await loop.stop();
    });

    it('stop cancels a pending settle pass', async () => {
      const { source, applier, loop } = setUp([], { renderer: endpoints });
      await loop.start();
      source.emitKvs(1, [first]);
      await vi.advanceTimersByTimeAsync(30);
      source.emitKvs(2, [first, ip]);
      await vi.advanceTimersByTimeAsync(30);
      await loop.stop();
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(500);
      expect(applier.applied).toEqual(['10.0.0.1:3306']);
    });
  });
});
