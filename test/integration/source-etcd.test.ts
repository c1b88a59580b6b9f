import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdSource, type EtcdClusterSource } from '../../src/source/etcd-source.js';
import { etcdSourceOptions, type EtcdSourceOptions } from '../../src/source/etcd-options.js';
import { compact, del, put, readPrefix, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { parseEndpoint, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { Recorder, sameKeys, testLogger, waitConverged, waitFor } from '../faults/source-harness.js';

let etcd: EtcdServer;
let client: Etcd3;
let proxy: TcpProxy;
const sources: EtcdClusterSource[] = [];
let prefixCounter = 0;

function nextPrefix(): string {
  prefixCounter += 1;
  return `/test/galera${prefixCounter}`;
}

function options(prefix: string, overrides: Partial<EtcdSourceOptions> = {}): EtcdSourceOptions {
  return etcdSourceOptions({
    endpoints: [`http://${proxy.address}`],
    prefix,
    backoff: { initialMs: 50, maxMs: 500 },
    heartbeatIntervalMs: 200,
    staleAfterMs: 1000,
    startTimeoutMs: 5000,
    ...overrides,
  });
}

function source(opts: EtcdSourceOptions): EtcdClusterSource {
  const s = createEtcdSource(opts, testLogger());
  sources.push(s);
  return s;
}

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
  const { host, port } = parseEndpoint(etcd.endpoint);
  proxy = await startTcpProxy(host, port);
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await proxy?.close();
  await etcd?.destroy();
});

describe('etcd source against a real etcd', () => {
  it('reads every key at one revision, ignores sibling prefixes, then watches in order', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/a/ip`, '10.0.0.1');
    await put(client, `${prefix}/b`, '10.0.0.2:3306');
    await put(client, `${prefix}x/other`, 'not mine');
    const rev = await put(client, `${prefix}/c`, '{"ip":"10.0.0.3"}');

    const once = await source(options(prefix)).readOnce();
    expect(BigInt(once.revision)).toBeGreaterThanOrEqual(BigInt(rev));
    expect(once.kvs.map((kv) => kv.key)).toEqual([`${prefix}/a/ip`, `${prefix}/b`, `${prefix}/c`]);

    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    expect(recorder.views[0]?.cause).toBe('snapshot');
    expect(recorder.views[0]?.kvs).toEqual(Object.fromEntries(once.kvs.map((kv) => [kv.key, kv.value])));

    // Each write's revision must appear in order; a key written many times must end at its last value.
    let last = '';
    for (let i = 0; i < 100; i += 1) {
      last = await put(client, `${prefix}/n${i % 7}`, `v${i}`);
      if (i % 10 === 9) last = await del(client, `${prefix}/n${i % 7}`);
    }
    await waitConverged(recorder, client, prefix, 10_000);
    await waitFor(() => s.health().revision === last, 5000, 'the source to reach the last write revision');
    expect(recorder.monotonic()).toBe(true);
    expect(recorder.views.slice(1).every((v) => v.cause === 'watch')).toBe(true);
    expect(s.stats().eventsApplied).toBe(100 + 10);
    expect(s.health().connected).toBe(true);
  });

  it('resumes after the connection is cut, without loss or duplicates', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/seed`, '10.0.0.1');
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);

    proxy.cut();
    await waitFor(() => !s.health().connected, 5000, 'the source to notice the cut');
    for (let i = 0; i < 40; i += 1) await put(client, `${prefix}/k${i}`, `v${i}`);
    await del(client, `${prefix}/seed`);
    proxy.heal();

    await waitConverged(recorder, client, prefix, 10_000);
    expect(s.stats().eventsApplied).toBe(41);
    expect(s.stats().resnapshots).toBe(0);
    expect(s.stats().watchDisconnects).toBeGreaterThan(0);
    expect(recorder.monotonic()).toBe(true);
    await waitFor(() => s.health().connected, 5000, 'the source to report connected again');
  });

  it('after a compaction past its revision, re-reads and reconciles deletes', async () => {
    const prefix = nextPrefix();
    for (let i = 0; i < 5; i += 1) await put(client, `${prefix}/n${i}`, `10.0.0.${i + 1}`);
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    expect(Object.keys(recorder.latest() ?? {})).toHaveLength(5);

    proxy.cut();
    await waitFor(() => !s.health().connected, 5000, 'the source to notice the cut');
    await del(client, `${prefix}/n0`);
    await del(client, `${prefix}/n1`);
    await put(client, `${prefix}/n2`, '10.0.9.9');
    await put(client, `${prefix}/n9`, '10.0.0.9');
    await compact(client);
    proxy.heal();

    await waitConverged(recorder, client, prefix, 15_000);
    expect(s.stats().resnapshots).toBeGreaterThanOrEqual(1);
    const final = recorder.latest() ?? {};
    expect(final[`${prefix}/n0`]).toBeUndefined();
    expect(final[`${prefix}/n2`]).toBe('10.0.9.9');
    expect(recorder.views.at(-1)?.cause).toBe('recovery');
    // The watch works again after the re-read.
    await put(client, `${prefix}/after`, '10.0.0.10');
    await waitConverged(recorder, client, prefix, 10_000);
  });

  it('sees a lease expiry as a delete', async () => {
    const prefix = nextPrefix();
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    const lease = client.lease(2, { autoKeepAlive: false });
    const leaseId = await lease.grant();
    await put(client, `${prefix}/ephemeral`, '10.0.0.7', leaseId);
    await waitFor(() => recorder.latest()?.[`${prefix}/ephemeral`] === '10.0.0.7', 5000, 'the leased put');
    await waitFor(() => recorder.latest()?.[`${prefix}/ephemeral`] === undefined, 15_000, 'the lease to expire');
    expect(recorder.views.at(-1)?.cause).toBe('watch');
    lease.release();
  });

  it('starts while etcd is unreachable, emits nothing, then converges once it answers', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/x`, '10.0.0.1');
    proxy.cut();
    const recorder = new Recorder();
    const s = source(options(prefix, { startTimeoutMs: 600 }));
    const started = Date.now();
    await s.start(recorder);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(recorder.views).toHaveLength(0);
    expect(s.health()).toMatchObject({ connected: false, revision: null });
    expect(s.health().lastError).not.toBeNull();
    await waitFor(() => recorder.healths.some((h) => h.lastHeardAt === null), 5000, 'a stale health report');

    await put(client, `${prefix}/y`, '10.0.0.2');
    proxy.heal();
    await waitConverged(recorder, client, prefix, 10_000);
    expect(recorder.views[0]?.cause).toBe('snapshot');
    expect(sameKeys(recorder.latest(), await readPrefix(client, `${prefix}/`))).toBe(true);
  });

  it('an outage while running keeps the last view and reports staleness, not an empty view', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/x`, '10.0.0.1');
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    const before = recorder.views.length;
    proxy.cut();
    await waitFor(() => recorder.healths.some((h) => !h.connected), 5000, 'a disconnected health report');
    await waitFor(() => Date.now() - (s.health().lastHeardAt ?? 0) > 1000, 5000, 'silence past staleAfterMs');
    expect(recorder.views.length).toBe(before);
    expect(s.health().revision).not.toBeNull();
    proxy.heal();
    await waitFor(() => s.health().connected && Date.now() - (s.health().lastHeardAt ?? 0) < 1000, 10_000, 'recovery');
  });

  it('a periodic resync finds nothing to fix on a healthy mirror', async () => {
    const prefix = nextPrefix();
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    for (let i = 0; i < 20; i += 1) await put(client, `${prefix}/r${i}`, `v${i}`);
    await waitConverged(recorder, client, prefix, 10_000);
    expect(await s.resyncNow()).toBe(true);
    expect(s.stats().resyncDifferences).toBe(0);
  });

  it('a resync on a quiet prefix whose revision was compacted away compares with the latest state, no re-read', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/quiet`, '10.0.0.1');
    const recorder = new Recorder();
    const s = source(options(prefix));
    await s.start(recorder);
    for (let i = 0; i < 10; i += 1) await put(client, `/busy/elsewhere/${i}`, `v${i}`);
    await compact(client);
    expect(await s.resyncNow()).toBe(true);
    expect(s.stats().resnapshots).toBe(0);
    expect(s.stats().resyncDifferences).toBe(0);
    await put(client, `${prefix}/later`, '10.0.0.2');
    await waitConverged(recorder, client, prefix, 10_000);
  });

  it('close() leaves no timers or sockets behind: the process exits by itself', async () => {
    const prefix = nextPrefix();
    await put(client, `${prefix}/x`, '10.0.0.1');
    const script = fileURLToPath(new URL('../faults/close-exits.ts', import.meta.url));
    const started = Date.now();
    // The bound is generous; a dangling handle would keep the process alive until killed.
    const result = await execa('node', ['--import', 'tsx', script, etcd.endpoint, prefix], { timeout: 20_000, reject: false });
    expect(result.timedOut, `process did not exit after close(): ${result.stderr}`).toBe(false);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout) as { views: number; health: { connected: boolean } };
    expect(report.views).toBe(1);
    expect(report.health.connected).toBe(false);
    console.log(`source started, closed and its process exited in ${Date.now() - started} ms`);
  });
});
