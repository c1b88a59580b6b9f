import { describe, expect, it } from 'vitest';
import { implicitService } from '../render/implicit-service.js';
import { syncToView, type ConfigRenderer, type SyncDeps } from './sync-pass.js';
import type { LiveConfig, StagedCheck } from './live-config.js';
import type { Applier, ApplyResult } from '../apply/types.js';
import type { SourceView } from '../source/types.js';
import { silentLogger } from '../observe/logger.js';
import { FileLane } from './file-lane.js';
import { createMetrics } from '../observe/metrics.js';
import { replaceHostNames } from '../resolve/resolve-hosts.js';
import type { ClusterState } from '../model/types.js';
import type { ServiceSpec } from '../model/service.js';
import type { KeyValue } from '../model/types.js';
import { createRenderer } from '../render/render-config.js';
import { parseServers, structureOf } from '../plan/parse-servers.js';
import { WriterElection } from './writer-election.js';
import type { WriterStore } from '../source/writer-store.js';

const PREFIX = '/components/galera';

function view(entries: Record<string, string>, revision = '7'): SourceView {
  return { revision, cause: 'watch', kvs: Object.entries(entries).map(([key, value]) => ({ key, value })) };
}

const renderer: ConfigRenderer = {
  render: (state, meta) => `# revision ${meta.revision}\n${state.nodes.map((n) => `server ${n.name} ${n.address}:${n.port}`).join('\n')}\n`,
};

class FakeLive implements LiveConfig {
  readonly path = '/etc/haproxy/haproxy.cfg';
  writes: string[] = [];
  constructor(
    public file: string | null,
    private readonly checkOk = true,
  ) {}
  async read() {
    return this.file;
  }
  equivalent(a: string, b: string) {
    return a.replace(/^#.*$/m, '') === b.replace(/^#.*$/m, '');
  }
  staged: string | null = null;
  async check(text: string): Promise<StagedCheck> {
    this.staged = text;
    return { ok: this.checkOk, stagedPath: '/etc/haproxy/.staged', diagnostics: [], summary: this.checkOk ? '' : "[haproxy.cfg:3] unknown keyword 'bogus'" };
  }
  async commit() {
    this.file = this.staged;
    this.writes.push(this.staged ?? '');
  }
  async restore(text: string | null) {
    this.file = text;
    if (text !== null) this.writes.push(text);
  }
  note: { running: string | null } | null = null;
  async markUnconfirmed(running: string | null) {
    this.note = { running };
  }
  async unconfirmed() {
    return this.note;
  }
  async confirm() {
    this.note = null;
  }
}

function applier(outcome: ApplyResult['outcome']): Applier & { calls: { previous: string | null; next: string }[] } {
  const calls: { previous: string | null; next: string }[] = [];
  const result = (): ApplyResult => ({
    outcome,
    plan: { runtimeOps: [], reloadReasons: outcome === 'reload' ? ['structure changed'] : [] },
    fellBackToReload: false,
    durationMs: 1,
    ...(outcome === 'failed' ? { error: new Error('reload not confirmed') } : {}),
  });
  return {
    calls,
    async apply(input) {
      calls.push({ previous: input.previous, next: input.next });
      return result();
    },
    async reconcile() {
      return result();
    },
  };
}

function deps(live: LiveConfig, app: Applier | null, minServers = 1): SyncDeps {
  return { services: [implicitService({}, { prefix: PREFIX, minServers })], renderer, live, applier: app, logger: silentLogger(), metrics: createMetrics() };
}

describe('syncToView', () => {
  it('renders, checks, commits and applies a change', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n');
    const app = applier('runtime');
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, deps(live, app));
    expect(r.outcome).toBe('runtime');
    expect(live.file).toContain('server b 10.0.0.2:3306');
    expect(app.calls).toEqual([{ previous: '# revision 1\nserver a 10.0.0.1:3306\n', next: live.file }]);
  });

  it('keeps server names from the previous pass: a shared host name does not move to another node', async () => {
    const live = new FakeLive(null);
    const shared = (ids: string[]): Record<string, string> =>
      Object.fromEntries(ids.flatMap((id, i) => [[`${PREFIX}/${id}/ip`, `10.0.0.${String(i + 1)}`], [`${PREFIX}/${id}/host`, 'vm']]));
    const first = await syncToView(view(shared(['n1', 'n2'])), null, deps(live, applier('runtime')));
    expect(first.state.nodes.map((n) => n.name).sort()).toEqual(['n2', 'vm']);
    const holder = first.state.nodes.find((n) => n.name === 'vm')!.id;
    const other = first.state.nodes.find((n) => n.name !== 'vm')!.id;
    const second = await syncToView(view({ [`${PREFIX}/${other}/ip`]: '10.0.0.2', [`${PREFIX}/${other}/host`]: 'vm' }, '8'), first.state, deps(live, applier('runtime')));
    expect(second.state.nodes.map((n) => n.name), `${holder} left`).toEqual([other]);
  });

  it('on the first pass after a start, takes the names from the running config', async () => {
    // The running file names 10.0.0.2 "vm"; by registration order (ids) n1 would take "vm" instead.
    const live = new FakeLive('# revision 1\nlisten galera\n    server n1 10.0.0.1:3306 weight 1\n    server vm 10.0.0.2:3306 weight 1\n');
    const kvs = { [`${PREFIX}/n1/ip`]: '10.0.0.1', [`${PREFIX}/n1/host`]: 'vm', [`${PREFIX}/n2/ip`]: '10.0.0.2', [`${PREFIX}/n2/host`]: 'vm' };
    const r = await syncToView(view(kvs), null, deps(live, applier('runtime')));
    expect(r.state.nodes.map((n) => [n.id, n.name])).toEqual([['n1', 'n1'], ['n2', 'vm']]);
  });

  it('renders the address a host name resolves to, not the name', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n');
    const app = applier('runtime');
    const hosts = { hasNames: () => true, resolve: async (s: ClusterState) => replaceHostNames(s, new Map([['db2.example', { ok: true, address: '10.0.0.2' } as const]])) };
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: 'db2.example' }), null, { ...deps(live, app), hosts });
    expect(r.outcome).toBe('runtime');
    expect(live.file).toContain('server b 10.0.0.2:3306');
    expect(r.state.nodes.find((n) => n.name === 'b')?.hostname).toBe('db2.example');
  });

  it('is a noop when only the revision comment would change', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n');
    const app = applier('runtime');
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1' }, '9'), null, deps(live, app));
    expect(r.outcome).toBe('noop');
    expect(live.writes).toEqual([]);
    expect(app.calls).toEqual([]);
  });

  it('holds the last config when fewer than --min-servers nodes are valid', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\nserver b 10.0.0.2:3306\n');
    const app = applier('runtime');
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1' }), null, deps(live, app, 2));
    expect(r.outcome).toBe('guarded');
    expect(r.reason).toMatch(/1 valid node\(s\) under \/components\/galera, fewer than --min-servers 2/);
    expect(live.writes).toEqual([]);
    expect(app.calls).toEqual([]);
  });

  it('treats an emptied prefix as a guard, not as "no servers"', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n');
    const r = await syncToView(view({}), null, deps(live, applier('runtime')));
    expect(r.outcome).toBe('guarded');
    expect(live.file).toBe('# revision 1\nserver a 10.0.0.1:3306\n');
  });

  it('never commits a config that haproxy -c rejected', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n', false);
    const app = applier('runtime');
    const r = await syncToView(view({ [`${PREFIX}/b`]: '10.0.0.2' }), null, deps(live, app));
    expect(r.outcome).toBe('failed');
    expect(r.reason).toContain("unknown keyword 'bogus'");
    expect(live.writes).toEqual([]);
    expect(app.calls).toEqual([]);
  });

  it('reports a template error as a failed pass and keeps the file', async () => {
    const live = new FakeLive('# revision 1\nserver a 10.0.0.1:3306\n');
    const broken: ConfigRenderer = {
      render: () => {
        throw new Error('template line 3: unexpected end of block');
      },
    };
    const r = await syncToView(view({ [`${PREFIX}/b`]: '10.0.0.2' }), null, { ...deps(live, applier('runtime')), renderer: broken });
    expect(r.outcome).toBe('failed');
    expect(r.reason).toMatch(/^render: template line 3/);
    expect(live.writes).toEqual([]);
  });

  it('puts the old file back when HAProxy did not take the change, and asks for a retry', async () => {
    const old = '# revision 1\nserver a 10.0.0.1:3306\n';
    const live = new FakeLive(old);
    const r = await syncToView(view({ [`${PREFIX}/b`]: '10.0.0.2' }), null, deps(live, applier('failed')));
    expect(r.outcome).toBe('failed');
    expect(r.retry).toBe(true);
    expect(live.file).toBe(old);
  });

  it('takes the new file away when there was none before and HAProxy did not take it, so the next pass applies it again', async () => {
    const live = new FakeLive(null);
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1' }), null, deps(live, applier('failed')));
    expect(r).toMatchObject({ outcome: 'failed', retry: true });
    expect(live.writes).toHaveLength(1);
    expect(live.file).toBeNull();
    expect(live.note).toBeNull();
    const again = applier('failed');
    expect((await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1' }), null, deps(live, again))).outcome).toBe('failed');
    expect(again.calls).toHaveLength(1);
  });

  it('notes a commit as unconfirmed until HAProxy takes it, and clears the note after a failed apply that put the old file back', async () => {
    const old = '# revision 1\nserver a 10.0.0.1:3306\n';
    const live = new FakeLive(old);
    const notes: ({ running: string | null } | null)[] = [];
    const confirming: Applier = {
      async apply() {
        notes.push(live.note);
        return { outcome: 'reload', plan: { runtimeOps: [], reloadReasons: ['x'] }, fellBackToReload: false, durationMs: 1 };
      },
      reconcile: async () => ({ outcome: 'noop', plan: { runtimeOps: [], reloadReasons: [] }, fellBackToReload: false, durationMs: 1 }),
    };
    await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, deps(live, confirming));
    expect(notes).toEqual([{ running: old }]);
    expect(live.note).toBeNull();
    const failing = new FakeLive(old);
    await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, deps(failing, applier('failed')));
    expect(failing.file).toBe(old);
    expect(failing.note).toBeNull();
  });

  it('applies a write left unconfirmed from the config HAProxy ran before it, even when the render equals the file', async () => {
    const running = '# revision 1\nserver a 10.0.0.1:3306\n';
    const onDisk = '# revision 2\nserver a 10.0.0.1:3306\nserver b 10.0.0.2:3306\n';
    const live = new FakeLive(onDisk);
    live.note = { running };
    const app = applier('reload');
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }, '2'), null, deps(live, app));
    expect(app.calls).toEqual([{ previous: running, next: onDisk }]);
    expect(live.note).toBeNull();
    expect(r.outcome).toBe('noop');
    const failed = new FakeLive(onDisk);
    failed.note = { running: null };
    const refused = applier('failed');
    const f = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }, '2'), null, deps(failed, refused));
    expect(refused.calls).toEqual([{ previous: null, next: onDisk }]);
    expect(f).toMatchObject({ outcome: 'failed', retry: true });
    expect(failed.note).toEqual({ running: null });
  });

  it('never renders a rejected value and keeps the valid nodes', async () => {
    const live = new FakeLive(null);
    const r = await syncToView(
      view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/evil`]: '10.0.0.9:3306\n  server evil 6.6.6.6:3306' }),
      null,
      deps(live, applier('reload')),
    );
    expect(r.outcome).toBe('reload');
    expect(r.state.rejected.map((x) => x.key)).toEqual([`${PREFIX}/evil`]);
    expect(live.file).not.toContain('6.6.6.6');
    expect(live.file).toContain('server a 10.0.0.1:3306');
  });

  it('a dry run (no applier) checks but writes nothing', async () => {
    const live = new FakeLive('# revision 1\n');
    const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1' }), null, deps(live, null));
    expect(r.config).toContain('server a 10.0.0.1:3306');
    expect(live.writes).toEqual([]);
  });

  describe('server-only changes', () => {
    const sectioned: ConfigRenderer = {
      render: (state, meta) =>
        `# Generated by galera-haproxy from etcd revision ${meta.revision}.\nlisten galera\n    bind 127.0.0.1:3306\n${state.nodes.map((n) => `    server ${n.name} ${n.address}:${n.port}`).join('\n')}\n`,
    };

    it('reach the runtime before the file is checked and written', async () => {
      const order: string[] = [];
      const live = new FakeLive('# Generated by galera-haproxy from etcd revision 1.\nlisten galera\n    bind 127.0.0.1:3306\n    server a 10.0.0.1:3306\n');
      const check = live.check.bind(live);
      live.check = async (text: string) => {
        order.push('check');
        return check(text);
      };
      const app = applier('runtime');
      const apply = app.apply.bind(app);
      app.apply = async (input) => {
        order.push(`apply allowReload=${String(input.allowReload ?? true)}`);
        return apply(input);
      };
      const lane = new FileLane(live, silentLogger(), () => undefined);
      const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, { ...deps(live, app), renderer: sectioned, lane });
      expect(r.outcome).toBe('runtime');
      await lane.settle();
      expect(order).toEqual(['apply allowReload=false', 'check']);
      expect(live.file).toContain('server b 10.0.0.2:3306');
    });

    it('take the checked-file way in a one-shot run (no lane): check, write, then apply', async () => {
      const live = new FakeLive('# Generated by galera-haproxy from etcd revision 1.\nlisten galera\n    bind 127.0.0.1:3306\n    server a 10.0.0.1:3306\n');
      const app = applier('runtime');
      const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, { ...deps(live, app), renderer: sectioned });
      expect(r.outcome).toBe('runtime');
      expect(live.writes).toHaveLength(1);
      expect(app.calls).toHaveLength(1);
    });

    it('take the checked-file way when the runtime cannot carry them', async () => {
      const live = new FakeLive('# Generated by galera-haproxy from etcd revision 1.\nlisten galera\n    bind 127.0.0.1:3306\n    server a 10.0.0.1:3306\n');
      const calls: (boolean | undefined)[] = [];
      const app: Applier = {
        async apply(input) {
          calls.push(input.allowReload);
          const outcome = input.allowReload === false ? 'failed' : 'reload';
          return { outcome, plan: { runtimeOps: [], reloadReasons: ['needs a reload'] }, fellBackToReload: false, durationMs: 0 };
        },
        async reconcile() {
          throw new Error('not used');
        },
      };
      const lane = new FileLane(live, silentLogger(), () => undefined);
      const r = await syncToView(view({ [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2' }), null, { ...deps(live, app), renderer: sectioned, lane });
      expect(calls).toEqual([false, undefined]);
      expect(r.outcome).toBe('reload');
      expect(live.writes).toHaveLength(1);
    });
  });

  describe('single-writer mode: the writer comes from the etcd record', () => {
    const KEY = `${PREFIX}/_writer`;
    const vars = { writer: 'single', read_listen: '127.0.0.1:3307' };
    const services = [implicitService(vars, { prefix: PREFIX, minServers: 1 })];
    const real = createRenderer({ vars, services });
    const nodes = { [`${PREFIX}/a`]: '10.0.0.1', [`${PREFIX}/b`]: '10.0.0.2', [`${PREFIX}/c`]: '10.0.0.3' };
    const recordOf = (node: string, by = 'proxy-b') => JSON.stringify({ node, by, reason: 'test' });
    /** The servers the write listener can send a connection to (weight above 0). */
    const writable = (config: string | null) => parseServers(config ?? '').filter((s) => s.backend === 'galera' && s.weight > 0).map((s) => s.name);
    const readable = (config: string | null) => parseServers(config ?? '').filter((s) => s.backend === 'galera_read' && s.weight > 0).map((s) => s.name);
    const withRecord = (node: string, epoch: bigint) => ({ ...view(nodes), kvs: [...view(nodes).kvs, { key: KEY, value: recordOf(node), modRevision: epoch }] });

    /** An in-memory etcd key with etcd's compare-and-swap rule; `moved` puts another proxy's record first. */
    class MemoryStore implements WriterStore {
      revision = 100n;
      kv: KeyValue | null = null;
      swaps: { epoch: bigint; node: string }[] = [];
      constructor(initial: { node: string; epoch: bigint } | null = null) {
        if (initial !== null) this.kv = { key: KEY, value: recordOf(initial.node), modRevision: initial.epoch };
      }
      async swap(key: string, epoch: bigint, value: string) {
        this.swaps.push({ epoch, node: (JSON.parse(value) as { node: string }).node });
        const current = this.kv?.modRevision ?? 0n;
        if (current !== epoch) return { won: false as const, kv: this.kv };
        this.revision += 1n;
        this.kv = { key, value, modRevision: this.revision };
        return { won: true as const, kv: this.kv };
      }
    }
    const upIn = (...up: string[]): Applier => ({
      ...applier('runtime'),
      runtime: async () => ['a', 'b', 'c'].map((name) => ({ backend: 'galera', name, address: '10.0.0.9', port: 3306, weight: 0, backup: false, operState: up.includes(name) ? 2 : 0, adminState: 0 })),
    });
    const election = (store: WriterStore | null, proxyId = 'proxy-a') => new WriterElection({ store, proxyId, metrics: createMetrics() });
    const run = (v: SourceView, app: Applier | null, store: WriterStore | null) =>
      syncToView(v, null, { ...deps(new FakeLive(null), app), renderer: real, services, writers: election(store) });

    it('without a record proposes the best UP node (a create), and sends writes to it alone; reads go everywhere', async () => {
      const store = new MemoryStore();
      const r = await run(view(nodes), upIn('b', 'c'), store);
      expect(store.swaps).toEqual([{ epoch: 0n, node: 'b' }]);
      expect(writable(r.config)).toEqual(['b']);
      expect(readable(r.config)).toEqual(['a', 'b', 'c']);
      expect(r.writers).toEqual([expect.objectContaining({ service: 'galera', key: KEY, epoch: '101', node: 'b', server: 'b', by: 'proxy-a', reason: 'no writer record', agrees: true })]);
    });

    it('follows the record, not its own view: the writer the record names even when another sorts first', async () => {
      const store = new MemoryStore({ node: 'c', epoch: 50n });
      const r = await run(withRecord('c', 50n), upIn('a', 'b', 'c'), store);
      expect(store.swaps).toEqual([]);
      expect(writable(r.config)).toEqual(['c']);
    });

    it('a writer DOWN here is proposed away against the epoch seen; a recovered old writer stays a reader', async () => {
      const store = new MemoryStore({ node: 'a', epoch: 50n });
      const moved = await run(withRecord('a', 50n), upIn('b', 'c'), store);
      expect(store.swaps).toEqual([{ epoch: 50n, node: 'b' }]);
      expect(writable(moved.config)).toEqual(['b']);
      // a is UP again; the record (now b at epoch 101) stands.
      const back = await run(withRecord('b', 101n), upIn('a', 'b', 'c'), store);
      expect(store.swaps).toHaveLength(1);
      expect(writable(back.config)).toEqual(['b']);
    });

    it('a lost race follows the record that won, even when this proxy would have chosen another node', async () => {
      // Another proxy already moved a → c (epoch 60) after this view (epoch 50) was read.
      const store = new MemoryStore({ node: 'c', epoch: 60n });
      const r = await run(withRecord('a', 50n), upIn('b', 'c'), store);
      expect(store.swaps).toEqual([{ epoch: 50n, node: 'b' }]);
      expect(writable(r.config)).toEqual(['c']);
      expect(r.writers?.[0]).toMatchObject({ epoch: '60', node: 'c', agrees: true });
    });

    it('never fails over locally: with the writer DOWN and no store (or no other candidate), writes wait on the writer', async () => {
      const noStore = await run(withRecord('a', 50n), upIn('b', 'c'), null);
      expect(writable(noStore.config)).toEqual(['a']);
      expect(noStore.writers?.[0]).toMatchObject({ server: 'a', agrees: false });
      const store = new MemoryStore({ node: 'a', epoch: 50n });
      const nobody = await run(withRecord('a', 50n), upIn(), store);
      expect(store.swaps).toEqual([]);
      expect(writable(nobody.config)).toEqual(['a']);
    });

    it('renders no writer for a record that does not decode or names no registered node, until one is proposed', async () => {
      const bad = { ...view(nodes), kvs: [...view(nodes).kvs, { key: KEY, value: 'a\n  server x 10.9.9.9:3306', modRevision: 5n }] };
      const followed = await run(bad, null, null);
      expect(writable(followed.config)).toEqual([]);
      expect(followed.config).not.toContain('10.9.9.9');
      expect(followed.writers?.[0]).toMatchObject({ epoch: '5', node: null, server: null, malformed: expect.stringContaining('is not JSON') });
      const store = new MemoryStore({ node: 'zz', epoch: 5n });
      const replaced = await run(bad, upIn('c'), store);
      expect(store.swaps).toEqual([{ epoch: 5n, node: 'c' }]);
      expect(writable(replaced.config)).toEqual(['c']);
    });

    it('a held single-writer service keeps the writer and the read weights its file has, while another service goes on', async () => {
      const web: ServiceSpec = {
        name: 'web', prefix: '/services/webserver/', listen: ['127.0.0.1:80'], mode: 'tcp', balance: 'leastconn', check: { type: 'tcp' },
        serverOptions: [], forwardFor: false, minServers: 1, defaultPort: 80, writer: 'multi',
      };
      const galera = implicitService(vars, { prefix: PREFIX, minServers: 3 });
      const both = [galera, web];
      const renderer = createRenderer({ vars, services: both });
      // Ids as a registrar writes them, server names from the host: the file alone cannot tell the ids.
      const node = (ip: string, host: string): string => JSON.stringify({ ip, host, weight: 5 });
      const weighted = { [`${PREFIX}/uuid-a`]: node('10.0.0.1', 'a'), [`${PREFIX}/uuid-b`]: node('10.0.0.2', 'b'), [`${PREFIX}/uuid-c`]: node('10.0.0.3', 'c'), '/services/webserver/w1': '10.0.1.1' };
      const record = { key: KEY, value: recordOf('uuid-b'), modRevision: 50n };
      const store = new MemoryStore({ node: 'uuid-b', epoch: 50n });
      const first = await syncToView({ ...view(weighted), kvs: [...view(weighted).kvs, record] }, null, { ...deps(new FakeLive(null), upIn('a', 'b', 'c')), renderer, services: both, writers: election(store) });
      expect(writable(first.config)).toEqual(['b']);
      // Two Galera keys expire (below min-servers 3) while the web tier changes: galera is held.
      const { [`${PREFIX}/uuid-a`]: _a, [`${PREFIX}/uuid-c`]: _c, ...rest } = weighted;
      const next = { ...rest, '/services/webserver/w2': '10.0.1.2' };
      const live = new FakeLive(first.config);
      const r = await syncToView({ ...view(next), kvs: [...view(next).kvs, record] }, null, { ...deps(live, upIn('a', 'b', 'c')), renderer, services: both, writers: election(store) });
      expect(r.held?.map((h) => h.service)).toEqual(['galera']);
      expect(parseServers(r.config ?? '').filter((sv) => sv.backend === 'web').map((sv) => sv.name)).toEqual(['w1', 'w2']);
      const galeraServers = (config: string | null, backend: string) => parseServers(config ?? '').filter((sv) => sv.backend === backend).map((sv) => `${sv.name} ${sv.weight}`);
      expect(galeraServers(r.config, 'galera')).toEqual(galeraServers(first.config, 'galera'));
      expect(galeraServers(r.config, 'galera_read')).toEqual(galeraServers(first.config, 'galera_read'));
      expect(store.swaps).toEqual([]);
    });

    it('a writer change is a weight change: the Runtime API way, no reload reason', async () => {
      const store = new MemoryStore({ node: 'a', epoch: 50n });
      const before = (await run(withRecord('a', 50n), upIn('a', 'b', 'c'), store)).config;
      const live = new FakeLive(before);
      // Only the fast runtime call (`allowReload: false`) may happen: a reload reason would need the file way.
      const calls: (boolean | undefined)[] = [];
      const base = upIn('b', 'c');
      const app: Applier = { ...base, apply: (input) => (calls.push(input.allowReload), base.apply(input)) };
      const lane = new FileLane(live, silentLogger(), () => undefined);
      const r = await syncToView(withRecord('a', 50n), null, { ...deps(live, app), renderer: real, services, writers: election(store), lane });
      expect(calls).toEqual([false]);
      expect(r.outcome).toBe('runtime');
      expect(writable(r.config)).toEqual(['b']);
      expect(structureOf(r.config ?? '')).toBe(structureOf(before ?? ''));
    });
  });

  describe('several services', () => {
    const spec = (name: string, prefix: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
      name, prefix, listen: [':1'], mode: 'tcp', balance: 'leastconn', check: { type: 'tcp' }, serverOptions: [], forwardFor: false,
      minServers: 1, defaultPort: 3306, writer: 'multi', ...extra,
    });
    const sections: ConfigRenderer = {
      render: (state) =>
        ['web', 'galera']
          .map((b) => `listen ${b}\n${state.nodes.filter((n) => n.service === b).map((n) => `    server ${n.name} ${n.address}:${n.port}`).join('\n')}`)
          .join('\n') + '\n',
    };
    const services = [spec('web', '/services/webserver/', { defaultPort: 80 }), spec('galera', '/components/galera/', { writer: 'single' })];

    it('holds only the service below its guard: its servers stay as the file has them, the others go on', async () => {
      const live = new FakeLive('listen web\n    server w1 10.0.1.1:80\nlisten galera\n    server g1 10.0.0.1:3306\n');
      const r = await syncToView(view({ '/components/galera/g1': '10.0.0.1', '/components/galera/g2': '10.0.0.2' }), null, {
        ...deps(live, applier('runtime')),
        renderer: sections,
        services,
      });
      expect(r.outcome).toBe('runtime');
      expect(live.file).toBe('listen web\n    server w1 10.0.1.1:80\nlisten galera\n    server g1 10.0.0.1:3306\n    server g2 10.0.0.2:3306\n');
    });

    it('holds the pass when every service is below its guard, naming each', async () => {
      const live = new FakeLive('listen web\n    server w1 10.0.1.1:80\nlisten galera\n    server g1 10.0.0.1:3306\n');
      const r = await syncToView(view({}), null, { ...deps(live, applier('runtime')), renderer: sections, services });
      expect(r.outcome).toBe('guarded');
      expect(r.reason).toBe(
        'service web: 0 valid node(s) under /services/webserver, fewer than --min-servers 1; service galera: 0 valid node(s) under /components/galera, fewer than --min-servers 1: keeping the last config',
      );
    });

    it('holds the pass when a service is below its guard and there is no file to keep its servers from', async () => {
      const live = new FakeLive(null);
      const r = await syncToView(view({ '/components/galera/g1': '10.0.0.1' }), null, { ...deps(live, applier('runtime')), renderer: sections, services });
      expect(r.outcome).toBe('guarded');
      expect(live.file).toBeNull();
    });

    it('decodes each prefix with its own default port and takes the single writer from its own service\'s record', async () => {
      const live = new FakeLive('listen web\n    server w2 10.0.1.2:80\nlisten galera\n    server g2 10.0.0.2:3306\n    server g1 10.0.0.1:3306\n');
      const r = await syncToView(
        view({
          '/services/webserver/w1/ip': '10.0.1.1', '/services/webserver/w2/ip': '10.0.1.2', '/components/galera/g1': '10.0.0.1', '/components/galera/g2': '10.0.0.2',
          '/components/galera/_writer': JSON.stringify({ node: 'g2', by: 'p', reason: 'r' }),
        }),
        null,
        { ...deps(live, applier('runtime')), renderer: sections, services },
      );
      expect(r.config).toBe('listen web\n    server w1 10.0.1.1:80\n    server w2 10.0.1.2:80\nlisten galera\n    server g1 10.0.0.1:3306\n    server g2 10.0.0.2:3306\n');
      expect(r.state.rejected).toEqual([]);
      expect(r.writers?.map((w) => [w.service, w.server])).toEqual([['galera', 'g2']]);
    });
  });
});
