import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../errors.js';
import type { KeyValue } from '../model/types.js';
import { silentLogger } from '../observe/logger.js';
import { combineHealth, createMultiPrefixSource, normalisePrefixes } from './multi-prefix-source.js';
import type { ClusterSource, SourceHealth, SourceListener, SourceView } from './types.js';

const kv = (key: string, value = 'v'): KeyValue => ({ key, value, createRevision: 1n });

function health(overrides: Partial<SourceHealth> = {}): SourceHealth {
  return { connected: true, lastHeardAt: 1000, revision: '10', lastError: null, watch: { attached: true, verifiedAt: 1000 }, ...overrides };
}

/** A source driven by the test: it delivers what the test tells it to, when it does. */
class FakeSource implements ClusterSource {
  listener: SourceListener | null = null;
  closed = false;
  starts = 0;
  reads = 0;
  current: SourceHealth = health();
  private releaseStart: (() => void) | null = null;
  readonly startGate: Promise<void>;
  nextRead: SourceView | null = null;

  constructor(readonly prefix: string) {
    this.startGate = new Promise((resolve) => (this.releaseStart = resolve));
  }

  readOnce(): Promise<SourceView> {
    this.reads += 1;
    return Promise.resolve(this.nextRead ?? { revision: '1', kvs: [], cause: 'snapshot' });
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.listener !== null) throw new Error('already started');
    this.starts += 1;
    this.listener = listener;
    await this.startGate;
  }

  /** Delivers a view; the first one also ends `start` (like the etcd source's first snapshot). */
  deliver(revision: string, kvs: readonly KeyValue[], cause: SourceView['cause'] = 'watch'): SourceView {
    const view: SourceView = { revision, kvs, cause };
    this.listener?.onChange(view);
    this.releaseStart?.();
    return view;
  }

  /** Ends `start` without a view, as the etcd source does after its start timeout. */
  timeOut(): void {
    this.releaseStart?.();
  }

  report(h: Partial<SourceHealth>): void {
    this.current = health(h);
    this.listener?.onHealth?.(this.current);
  }

  health(): SourceHealth {
    return this.current;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

class Fakes {
  readonly made: FakeSource[] = [];
  readonly make = (prefix: string): FakeSource => {
    const s = new FakeSource(prefix);
    this.made.push(s);
    return s;
  };
  get(prefix: string): FakeSource {
    const found = this.made.filter((s) => s.prefix === prefix).at(-1);
    if (found === undefined) throw new Error(`no source for ${prefix}`);
    return found;
  }
}

class Listener implements SourceListener {
  readonly views: SourceView[] = [];
  readonly healths: SourceHealth[] = [];
  onChange(view: SourceView): void {
    this.views.push(view);
  }
  onHealth(h: SourceHealth): void {
    this.healths.push(h);
  }
  keys(i = -1): string[] {
    return (this.views.at(i)?.kvs ?? []).map((k) => k.key);
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('normalisePrefixes', () => {
  it('accepts a prefix with or without a trailing slash', () => {
    expect(normalisePrefixes(['/components/galera/', '/services/webserver', '/x//'])).toEqual(['/components/galera', '/services/webserver', '/x']);
  });

  it('rejects relative, root, repeated and nested prefixes with one line naming them', () => {
    expect(() => normalisePrefixes([])).toThrow(ConfigError);
    expect(() => normalisePrefixes(['services'])).toThrow(`etcd prefix 'services' must start with "/"`);
    expect(() => normalisePrefixes(['/'])).toThrow('whole keyspace');
    expect(() => normalisePrefixes(['/a', '/a/'])).toThrow("etcd prefix '/a/' is given twice");
    expect(() => normalisePrefixes(['/a', '/a/b'])).toThrow("etcd prefix '/a/b' and '/a' overlap");
    expect(() => normalisePrefixes(['/a/b', '/a'])).toThrow('overlap');
    expect(normalisePrefixes(['/a', '/ab'])).toEqual(['/a', '/ab']);
  });
});

describe('multi-prefix source with one prefix', () => {
  it('passes the part’s views, health and reads through untouched', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/components/galera/'], fakes.make, silentLogger());
    expect(fakes.made.map((s) => s.prefix)).toEqual(['/components/galera']);
    const part = fakes.get('/components/galera');
    const listener = new Listener();
    const started = source.start(listener);
    const view = part.deliver('5', [kv('/components/galera/a')], 'snapshot');
    await started;
    expect(listener.views).toHaveLength(1);
    expect(listener.views[0]).toBe(view);
    const watched = part.deliver('6', [], 'watch');
    expect(listener.views[1]).toBe(watched);

    part.report({ connected: false, lastError: 'down' });
    expect(listener.healths.at(-1)).toBe(part.current);
    expect(source.health()).toBe(part.current);

    const read: SourceView = { revision: '7', kvs: [], cause: 'snapshot' };
    part.nextRead = read;
    expect(await source.readOnce()).toBe(read);
  });
});

describe('multi-prefix source with several prefixes', () => {
  it('emits nothing until every part has its first snapshot, then one combined view', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    let resolved = false;
    const started = source.start(listener).then(() => (resolved = true));
    fakes.get('/a').deliver('8', [kv('/a/1'), kv('/a/2')], 'snapshot');
    await flush();
    expect(listener.views).toHaveLength(0);
    expect(resolved).toBe(false);
    fakes.get('/b').deliver('9', [kv('/b/1')], 'snapshot');
    await started;
    expect(listener.views).toHaveLength(1);
    expect(listener.views[0]).toMatchObject({ revision: '9', cause: 'snapshot' });
    expect(listener.keys()).toEqual(['/a/1', '/a/2', '/b/1']);
  });

  it('fires on a change of any part, with that part’s cause and the highest revision', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    fakes.get('/a').deliver('3', [kv('/a/1')], 'snapshot');
    fakes.get('/b').deliver('3', [kv('/b/1')], 'snapshot');
    await started;
    fakes.get('/b').deliver('12', [], 'recovery');
    expect(listener.views.at(-1)).toMatchObject({ revision: '12', cause: 'recovery' });
    expect(listener.keys()).toEqual(['/a/1']);
    fakes.get('/a').deliver('13', [kv('/a/1'), kv('/a/9')], 'watch');
    expect(listener.views.at(-1)).toMatchObject({ revision: '13', cause: 'watch' });
    expect(listener.keys()).toEqual(['/a/1', '/a/9']);
  });

  it('reads the parts’ views only when the combined view is read', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    let reads = 0;
    const counting = (revision: string, kvs: KeyValue[]): SourceView => ({
      cause: 'watch',
      get revision() {
        reads += 1;
        return revision;
      },
      get kvs() {
        reads += 1;
        return kvs;
      },
    });
    fakes.get('/a').listener?.onChange(counting('4', [kv('/a/1')]));
    fakes.get('/a').timeOut();
    fakes.get('/b').listener?.onChange(counting('5', [kv('/b/1')]));
    fakes.get('/b').timeOut();
    await started;
    for (let i = 0; i < 100; i += 1) fakes.get('/a').listener?.onChange(counting(String(6 + i), [kv('/a/1')]));
    expect(reads).toBe(0);
    const last = listener.views.at(-1)!;
    expect(last.revision).toBe('105');
    expect(last.kvs).toHaveLength(2);
    expect(reads).toBe(4);
  });

  it('follows each part’s start: resolves after a part’s start timeout, emits once it is read', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    fakes.get('/a').deliver('3', [kv('/a/1')], 'snapshot');
    fakes.get('/b').timeOut();
    await started;
    expect(listener.views).toHaveLength(0);
    fakes.get('/a').deliver('4', [kv('/a/2')]);
    expect(listener.views).toHaveLength(0);
    fakes.get('/b').deliver('5', [kv('/b/1')], 'snapshot');
    expect(listener.views).toHaveLength(1);
    expect(listener.keys()).toEqual(['/a/2', '/b/1']);
  });

  it('reads the first prefix, then each next one after the previous answered', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b', '/c'], fakes.make, silentLogger());
    const order: string[] = [];
    for (const [i, s] of fakes.made.entries()) {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      s.readOnce = async () => {
        order.push(`start ${s.prefix}`);
        await gate;
        order.push(`end ${s.prefix}`);
        return { revision: String(20 + i), kvs: [kv(`${s.prefix}/k`)], cause: 'snapshot' };
      };
      setTimeout(release, 5 * (3 - i));
    }
    const view = await source.readOnce();
    expect(order).toEqual(['start /a', 'end /a', 'start /b', 'end /b', 'start /c', 'end /c']);
    expect(view).toMatchObject({ revision: '22', cause: 'snapshot' });
    expect(view.kvs.map((k) => k.key)).toEqual(['/a/k', '/b/k', '/c/k']);
  });

  it('combines health: all connected, oldest heard, lowest revision, first error, worst watch', () => {
    expect(combineHealth([health(), health()])).toEqual(health());
    const combined = combineHealth([
      health({ lastHeardAt: 2000, revision: '30', watch: { attached: true, verifiedAt: 2000 } }),
      health({ connected: false, lastHeardAt: 1500, revision: '9', lastError: 'refused', watch: { attached: false, verifiedAt: 1200 } }),
      health({ lastError: 'later', revision: '100' }),
    ]);
    expect(combined).toEqual({
      connected: false,
      lastHeardAt: 1000,
      revision: '9',
      lastError: 'refused',
      watch: { attached: false, verifiedAt: 1000 },
    });
    // A part never heard from, or without a snapshot, makes the whole unknown.
    expect(combineHealth([health(), health({ lastHeardAt: null, revision: null, watch: { attached: false, verifiedAt: null } })])).toMatchObject({
      lastHeardAt: null,
      revision: null,
      watch: { verifiedAt: null },
    });
  });

  it('forwards health transitions at once and other reports at most once a second', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    fakes.get('/a').deliver('1', [], 'snapshot');
    fakes.get('/b').deliver('1', [], 'snapshot');
    await started;
    fakes.get('/a').report({ lastHeardAt: Date.now() });
    expect(listener.healths).toHaveLength(1);
    fakes.get('/b').report({ lastHeardAt: Date.now() });
    expect(listener.healths).toHaveLength(1);
    fakes.get('/b').report({ connected: false, lastError: 'gone' });
    expect(listener.healths).toHaveLength(2);
    expect(listener.healths.at(-1)).toMatchObject({ connected: false, lastError: 'gone' });
    vi.advanceTimersByTime(1000);
    fakes.get('/a').report({ lastHeardAt: Date.now() });
    expect(listener.healths).toHaveLength(3);
  });

  it('close() closes every part and emits nothing after', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a', '/b'], fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    fakes.get('/a').deliver('1', [], 'snapshot');
    fakes.get('/b').deliver('1', [], 'snapshot');
    await started;
    await source.close();
    expect(fakes.made.every((s) => s.closed)).toBe(true);
    fakes.get('/a').deliver('2', [kv('/a/late')]);
    expect(listener.views).toHaveLength(1);
  });
});

describe('setPrefixes', () => {
  async function running(prefixes: string[]): Promise<{ fakes: Fakes; listener: Listener; source: ReturnType<typeof createMultiPrefixSource<FakeSource>> }> {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(prefixes, fakes.make, silentLogger());
    const listener = new Listener();
    const started = source.start(listener);
    for (const s of fakes.made) s.deliver('1', [kv(`${s.prefix}/seed`)], 'snapshot');
    await started;
    return { fakes, listener, source };
  }

  it('starts a new prefix, waits for its first snapshot, then emits one view with the new set', async () => {
    const { fakes, listener, source } = await running(['/a']);
    let resolved = false;
    const changing = source.setPrefixes(['/a', '/b/']).then(() => (resolved = true));
    await flush();
    const b = fakes.get('/b');
    expect(b.starts).toBe(1);
    expect(resolved).toBe(false);
    // Changes of the current set keep flowing while the new prefix is read.
    fakes.get('/a').deliver('2', [kv('/a/seed'), kv('/a/more')]);
    expect(listener.keys()).toEqual(['/a/seed', '/a/more']);
    b.deliver('3', [kv('/b/1')], 'snapshot');
    // Its first snapshot joins the view only when the set is swapped.
    expect(listener.views).toHaveLength(2);
    await changing;
    expect(resolved).toBe(true);
    expect(listener.views).toHaveLength(3);
    expect(listener.views.at(-1)).toMatchObject({ revision: '3', cause: 'snapshot' });
    expect(listener.keys()).toEqual(['/a/seed', '/a/more', '/b/1']);
    expect(source.prefixes()).toEqual(['/a', '/b']);
    expect([...source.parts().keys()]).toEqual(['/a', '/b']);
  });

  it('closes a removed prefix and ignores its late events', async () => {
    const { fakes, listener, source } = await running(['/a', '/b']);
    const b = fakes.get('/b');
    await source.setPrefixes(['/a']);
    expect(b.closed).toBe(true);
    expect(listener.keys()).toEqual(['/a/seed']);
    const count = listener.views.length;
    b.deliver('9', [kv('/b/late')]);
    expect(listener.views).toHaveLength(count);
    // Back to one prefix: its views pass through again.
    const view = fakes.get('/a').deliver('10', []);
    expect(listener.views.at(-1)).toBe(view);
  });

  it('swaps a renamed prefix in one view', async () => {
    const { fakes, listener, source } = await running(['/a', '/b']);
    const swapping = source.setPrefixes(['/a', '/c']);
    await flush();
    fakes.get('/c').deliver('5', [kv('/c/1')], 'snapshot');
    await swapping;
    expect(listener.views.map((v) => v.kvs.map((k) => k.key))).toEqual([
      ['/a/seed', '/b/seed'],
      ['/a/seed', '/c/1'],
    ]);
  });

  it('applies calls one after the other', async () => {
    const { fakes, source } = await running(['/a']);
    const first = source.setPrefixes(['/a', '/b']);
    const second = source.setPrefixes(['/a', '/c']);
    await flush();
    expect(fakes.made.map((s) => s.prefix)).toEqual(['/a', '/b']);
    fakes.get('/b').deliver('2', [], 'snapshot');
    await first;
    await flush();
    fakes.get('/c').deliver('3', [], 'snapshot');
    await second;
    expect(source.prefixes()).toEqual(['/a', '/c']);
    expect(fakes.get('/b').closed).toBe(true);
  });

  it('rejects an invalid set and keeps the current one', async () => {
    const { source } = await running(['/a']);
    await expect(source.setPrefixes(['/a', '/a/b'])).rejects.toThrow(ConfigError);
    expect(source.prefixes()).toEqual(['/a']);
  });

  it('before start only changes what start will start', async () => {
    const fakes = new Fakes();
    const source = createMultiPrefixSource(['/a'], fakes.make, silentLogger());
    await source.setPrefixes(['/b', '/c']);
    const listener = new Listener();
    const started = source.start(listener);
    expect(fakes.get('/a').closed).toBe(true);
    expect(fakes.get('/a').starts).toBe(0);
    fakes.get('/b').deliver('1', [], 'snapshot');
    fakes.get('/c').deliver('1', [], 'snapshot');
    await started;
    expect(fakes.made.map((s) => [s.prefix, s.starts])).toEqual([['/a', 0], ['/b', 1], ['/c', 1]]);
    expect(listener.views).toHaveLength(1);
  });

  it('close() during a change closes the part being started too', async () => {
    const { fakes, source } = await running(['/a']);
    const changing = source.setPrefixes(['/a', '/b']);
    await flush();
    await source.close();
    fakes.get('/b').timeOut();
    await changing;
    expect(fakes.made.every((s) => s.closed)).toBe(true);
  });
});
