import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdMultiSource } from '../../src/source/etcd-multi-source.js';
import { etcdSourceOptions, type EtcdSourceOptions } from '../../src/source/etcd-options.js';
import type { MultiPrefixSource } from '../../src/source/multi-prefix-source.js';
import type { EtcdClusterSource } from '../../src/source/etcd-source.js';
import { del, put, readPrefix, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { Recorder, sameKeys, testLogger, waitFor } from '../faults/source-harness.js';

// Several prefixes (one per service) mirrored as one view, against a real etcd on 127.0.0.191.
let etcd: EtcdServer;
let client: Etcd3;
const sources: MultiPrefixSource<EtcdClusterSource>[] = [];
let round = 0;

function options(): EtcdSourceOptions {
  return etcdSourceOptions({
    endpoints: [etcd.endpoint],
    backoff: { initialMs: 50, maxMs: 500 },
    heartbeatIntervalMs: 200,
    staleAfterMs: 1000,
    startTimeoutMs: 5000,
  });
}

function source(prefixes: string[]): MultiPrefixSource<EtcdClusterSource> {
  const s = createEtcdMultiSource(options(), prefixes, testLogger());
  sources.push(s);
  return s;
}

/** Fresh prefixes per test: a galera-like one, a web one, and one nobody mirrors. */
function names(): { galera: string; web: string; other: string } {
  round += 1;
  return { galera: `/components/galera${round}`, web: `/services/webserver${round}`, other: `/services/mail${round}` };
}

/** What etcd holds under every prefix now, as one object. */
async function truth(prefixes: string[]): Promise<Record<string, string>> {
  const parts = await Promise.all(prefixes.map((p) => readPrefix(client, `${p}/`)));
  return Object.assign({}, ...parts) as Record<string, string>;
}

async function waitSame(recorder: Recorder, prefixes: string[], timeoutMs: number): Promise<void> {
  let expected: Record<string, string> = {};
  let readAt = 0;
  await waitFor(
    async () => {
      if (Date.now() - readAt > 200) {
        expected = await truth(prefixes);
        readAt = Date.now();
      }
      return sameKeys(recorder.latest(), expected);
    },
    timeoutMs,
    `the combined view to equal etcd under ${prefixes.join(', ')}`,
  );
}

const neverUnder = (recorder: Recorder, prefix: string): boolean =>
  recorder.views.every((v) => Object.keys(v.kvs).every((k) => !k.startsWith(`${prefix}/`)));

beforeAll(async () => {
  etcd = await startEtcd({ host: '127.0.0.191' });
  client = etcd.client();
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await etcd?.destroy();
});

describe('multi-prefix source against a real etcd', () => {
  it('mirrors two prefixes as one view; a third prefix never appears', async () => {
    const { galera, web, other } = names();
    await put(client, `${galera}/n1`, '10.0.0.1');
    await put(client, `${web}/w1`, '10.0.1.1:80');
    await put(client, `${other}/m1`, '10.0.2.1');
    await put(client, `${galera}x/sibling`, 'not mine');

    const recorder = new Recorder();
    // One prefix with a trailing slash, one without: both name the directory.
    const s = source([`${galera}/`, web]);
    expect(s.prefixes()).toEqual([galera, web]);
    await s.start(recorder);
    expect(recorder.views).toHaveLength(1);
    expect(recorder.views[0]?.cause).toBe('snapshot');
    expect(recorder.latest()).toEqual({ [`${galera}/n1`]: '10.0.0.1', [`${web}/w1`]: '10.0.1.1:80' });

    let last = '';
    for (let i = 0; i < 30; i += 1) {
      await put(client, `${galera}/n${i % 4}`, `g${i}`);
      await put(client, `${other}/m${i % 3}`, `o${i}`);
      last = await put(client, `${web}/w${i % 5}`, `w${i}`);
      if (i % 7 === 6) last = await del(client, `${web}/w${i % 5}`);
      if (i % 9 === 8) last = await del(client, `${galera}/n${i % 4}`);
    }
    await waitSame(recorder, [galera, web], 10_000);
    expect(neverUnder(recorder, other)).toBe(true);
    expect(Object.keys(recorder.latest() ?? {}).some((k) => k.startsWith(`${galera}x/`))).toBe(false);
    expect(recorder.monotonic()).toBe(true);
    expect(recorder.views.slice(1).every((v) => v.cause === 'watch')).toBe(true);
    expect(recorder.views.at(-1)?.revision).toBe(BigInt(last));
    await waitFor(() => s.health().connected && s.health().watch.attached, 5000, 'both watches attached');

    const once = await source([galera, web]).readOnce();
    expect(BigInt(once.revision)).toBeGreaterThanOrEqual(BigInt(last));
    expect(Object.fromEntries(once.kvs.map((kv) => [kv.key, kv.value]))).toEqual(await truth([galera, web]));
  });

  it('follows prefixes added and removed at runtime', async () => {
    const { galera, web, other } = names();
    await put(client, `${galera}/n1`, '10.0.0.1');
    await put(client, `${web}/w1`, '10.0.1.1');
    await put(client, `${other}/m1`, '10.0.2.1');
    const recorder = new Recorder();
    const s = source([galera]);
    await s.start(recorder);
    expect(Object.keys(recorder.latest() ?? {})).toEqual([`${galera}/n1`]);

    // Added: its current keys are in the view when setPrefixes resolves, later writes follow.
    await s.setPrefixes([galera, `${web}/`]);
    expect(recorder.latest()).toEqual({ [`${galera}/n1`]: '10.0.0.1', [`${web}/w1`]: '10.0.1.1' });
    expect(recorder.views.at(-1)?.cause).toBe('snapshot');
    await put(client, `${web}/w2`, '10.0.1.2');
    await put(client, `${galera}/n2`, '10.0.0.2');
    await waitSame(recorder, [galera, web], 10_000);

    // Removed: gone from the view at once, and its later writes never come back.
    const webSource = s.parts().get(web);
    await s.setPrefixes([galera, other]);
    expect(s.prefixes()).toEqual([galera, other]);
    expect(s.parts().has(web)).toBe(false);
    expect(webSource?.health().connected).toBe(false);
    const removedAt = recorder.views.length;
    expect(recorder.latest()).toEqual({ [`${galera}/n1`]: '10.0.0.1', [`${galera}/n2`]: '10.0.0.2', [`${other}/m1`]: '10.0.2.1' });
    await put(client, `${web}/w3`, '10.0.1.3');
    await put(client, `${other}/m2`, '10.0.2.2');
    await waitSame(recorder, [galera, other], 10_000);
    expect(recorder.views.slice(removedAt - 1).every((v) => Object.keys(v.kvs).every((k) => !k.startsWith(`${web}/`)))).toBe(true);

    // Back to one prefix: its own source's views again.
    await s.setPrefixes([other]);
    await del(client, `${other}/m1`);
    await waitSame(recorder, [other], 10_000);
  });

  it('converges after etcd restarts mid-way', async () => {
    const { galera, web, other } = names();
    await put(client, `${galera}/n1`, '10.0.0.1');
    await put(client, `${web}/w1`, '10.0.1.1');
    const recorder = new Recorder();
    const s = source([galera, web]);
    await s.start(recorder);
    await put(client, `${web}/w2`, '10.0.1.2');
    await waitSame(recorder, [galera, web], 10_000);

    await etcd.stop();
    await waitFor(() => !s.health().connected, 10_000, 'the source to notice etcd is gone');
    const viewsWhileDown = recorder.views.length;
    await etcd.start();
    await put(client, `${galera}/n2`, '10.0.0.2');
    await del(client, `${web}/w1`);
    await put(client, `${other}/m1`, 'not mirrored');
    await waitSame(recorder, [galera, web], 20_000);
    expect(recorder.views.length).toBeGreaterThan(viewsWhileDown);
    expect(neverUnder(recorder, other)).toBe(true);
    expect(recorder.monotonic()).toBe(true);
    await waitFor(() => s.health().connected && s.health().watch.attached, 15_000, 'both watches attached again');

    // And a prefix added after the restart still arrives.
    await s.setPrefixes([galera, web, other]);
    expect(recorder.latest()?.[`${other}/m1`]).toBe('not mirrored');
  });
});
