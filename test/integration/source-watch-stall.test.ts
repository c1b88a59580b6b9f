import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdSource, type EtcdClusterSource } from '../../src/source/etcd-source.js';
import { etcdSourceOptions, type EtcdSourceOptions } from '../../src/source/etcd-options.js';
import { createEtcdClient } from '../../src/source/etcd-writer.js';
import { currentRevision, put, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { Recorder, waitConverged, waitFor } from '../faults/source-harness.js';

// A watch can stop delivering while every unary request still succeeds (etcd3 1.1.2 leaves a watch
// refused at creation at the head of its attach queue, so later watches are never sent). The source
// must notice from the outside and rebuild it, and must start over when etcd's revision goes back.
let etcd: EtcdServer;
let client: Etcd3;
const sources: EtcdClusterSource[] = [];
let prefixCounter = 0;

const nextPrefix = (): string => `/stall/galera${(prefixCounter += 1)}`;

function options(prefix: string, overrides: Partial<EtcdSourceOptions> = {}): EtcdSourceOptions {
  return etcdSourceOptions({
    endpoints: [etcd.endpoint],
    prefix,
    backoff: { initialMs: 50, maxMs: 500 },
    heartbeatIntervalMs: 200,
    staleAfterMs: 1000,
    ...overrides,
  });
}

/** A client whose watches attach to a key nobody writes: attached, answering, and silent. */
function silentWatchClient(opts: EtcdSourceOptions): Etcd3 {
  const c = createEtcdClient(opts);
  const watch = c.watch.bind(c);
  c.watch = () => {
    const builder = watch();
    builder.prefix = (_prefix: string) => builder.key('/nobody-writes-here');
    return builder;
  };
  return c;
}

function recordingLogger(lines: Record<string, unknown>[]) {
  return pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
}

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await etcd?.destroy();
});

describe('a watch that stops delivering while etcd answers', () => {
  it('a resync compares with the latest state, finds the missing key and rebuilds the watch', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/a`, '10.0.0.1');
    // The heartbeat is out of the way: only the resync can notice.
    const opts = options(prefix, { heartbeatIntervalMs: 3_600_000 });
    const lines: Record<string, unknown>[] = [];
    const s = createEtcdSource(opts, recordingLogger(lines), { client: silentWatchClient(opts) });
    sources.push(s);
    const recorder = new Recorder();
    await s.start(recorder);
    await put(client, `${prefix}/b`, '10.0.0.2');
    expect(await s.resyncNow()).toBe(false);
    await waitConverged(recorder, client, prefix, 10_000);
    expect(recorder.latest()).toEqual({ [`${prefix}/a`]: '10.0.0.1', [`${prefix}/b`]: '10.0.0.2' });
    expect(lines.some((l) => l.msg === 'resync found the mirror behind etcd and the watch not delivering; rebuilding the watch')).toBe(true);
    // The rebuilt watch delivers by itself.
    await put(client, `${prefix}/c`, '10.0.0.3');
    await waitConverged(recorder, client, prefix, 10_000);
    expect(await s.resyncNow()).toBe(true);
  });

  it('the heartbeat notices a watch that owes changes and rebuilds it, and health says so meanwhile', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/a`, '10.0.0.1');
    const opts = options(prefix, { resyncIntervalMs: 0 });
    const s = createEtcdSource(opts, recordingLogger([]), { client: silentWatchClient(opts) });
    sources.push(s);
    const recorder = new Recorder();
    await s.start(recorder);
    await put(client, `${prefix}/b`, '10.0.0.2');
    await waitConverged(recorder, client, prefix, 15_000);
    expect(s.stats().watchRebuilds).toBeGreaterThanOrEqual(1);
    // Until the rebuild, the watch was attached but not verified: its verification time fell behind.
    expect(recorder.healths.some((h) => h.watch.attached && h.watch.verifiedAt !== null && (h.lastHeardAt ?? 0) - h.watch.verifiedAt > 500)).toBe(true);
    await waitFor(() => s.health().watch.attached && Date.now() - (s.health().watch.verifiedAt ?? 0) < 1000, 5000, 'a verified watch');
  });

  it('a resync of a healthy mirror under writes newer than it still matches', async () => {
    const prefix = nextPrefix();
    const s = createEtcdSource(options(prefix), recordingLogger([]));
    sources.push(s);
    const recorder = new Recorder();
    await s.start(recorder);
    const writes = (async () => {
      for (let i = 0; i < 30; i += 1) await put(client, `${prefix}/w${i}`, `v${i}`);
    })();
    expect(await s.resyncNow()).toBe(true);
    await writes;
    await waitConverged(recorder, client, prefix, 10_000);
    expect(await s.resyncNow()).toBe(true);
    expect(s.stats()).toMatchObject({ resyncDifferences: 0, watchRebuilds: 0 });
  });
});

describe('an etcd whose revision goes backwards', () => {
  it('takes a fresh snapshot, logs both revisions, and converges to the restored state', async () => {
    const prefix = nextPrefix();
    for (let i = 0; i < 20; i += 1) await put(client, `${prefix}/n${i % 3}`, `10.0.0.${i}`);
    const lines: Record<string, unknown>[] = [];
    const s = createEtcdSource(options(prefix, { resyncIntervalMs: 0 }), recordingLogger(lines));
    sources.push(s);
    const recorder = new Recorder();
    await s.start(recorder);
    const before = BigInt(await currentRevision(client));
    // Replaced data: the member starts from an empty data dir and gets fewer writes than it had.
    await etcd.stop();
    await rm(etcd.dataDir, { recursive: true, force: true });
    await etcd.start();
    const fresh = etcd.client();
    await put(fresh, `${prefix}/restored`, '10.9.9.9');
    expect(BigInt(await currentRevision(fresh))).toBeLessThan(before);
    await waitConverged(recorder, fresh, prefix, 15_000);
    expect(recorder.latest()).toEqual({ [`${prefix}/restored`]: '10.9.9.9' });
    const warning = lines.find((l) => l.msg === 'etcd revision went backwards (restored or replaced data); taking a fresh snapshot');
    expect(warning).toMatchObject({ level: 40, mirrorRevision: expect.any(String), etcdRevision: expect.any(String) });
    expect(BigInt(warning!.etcdRevision as string)).toBeLessThan(BigInt(warning!.mirrorRevision as string));
    // The watch follows the restored history from here on.
    await put(fresh, `${prefix}/later`, '10.9.9.10');
    await waitConverged(recorder, fresh, prefix, 10_000);
  });
});
