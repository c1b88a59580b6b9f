import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { WriterElection } from './writer-election.js';
import { implicitService } from '../render/implicit-service.js';
import { createMetrics } from '../observe/metrics.js';
import { createLogger, silentLogger } from '../observe/logger.js';
import type { Applier } from '../apply/types.js';
import type { GaleraNode, KeyValue } from '../model/types.js';
import type { WriterStore } from '../source/writer-store.js';

const PREFIX = '/components/galera';
const KEY = `${PREFIX}/_writer`;
const service = implicitService({ writer: 'single' }, { prefix: PREFIX, minServers: 1 });
const node = (name: string): GaleraNode => ({ id: name, name, address: '10.0.0.1', port: 3306, weight: 1, backup: false, keys: [] });
const nodes = [node('a'), node('b'), node('c')];
const rec = (n: string, epoch: bigint): KeyValue => ({ key: KEY, value: JSON.stringify({ node: n, by: 'p', reason: 'r' }), modRevision: epoch });
const view = (revision: bigint, ...kvs: KeyValue[]) => ({ revision: revision.toString(), kvs });
const upIn = (...up: string[]): Applier => ({
  apply: () => Promise.reject(new Error('not used')),
  reconcile: () => Promise.reject(new Error('not used')),
  runtime: async () => nodes.map((n) => ({ backend: 'galera', name: n.name, address: n.address, port: 3306, weight: 1, backup: false, operState: up.includes(n.name) ? 2 : 0, adminState: 0 })),
});

function logLines(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', stream }), lines };
}

describe('WriterElection', () => {
  it('lets the new writer in only after the handover; the old one is out at once', async () => {
    let now = 1000;
    const election = new WriterElection({ store: null, proxyId: 'p', metrics: createMetrics(), handoverMs: 500, clock: () => now });
    const all = upIn('a', 'b', 'c');
    expect(await election.place(service, nodes, view(50n, rec('a', 50n)), all, silentLogger())).toMatchObject({ server: 'a', holdMs: 0 });
    const moved = await election.place(service, nodes, view(60n, rec('b', 60n)), all, silentLogger());
    expect(moved).toMatchObject({ server: null, node: 'b', epoch: '60', holdMs: 500 });
    now += 499;
    expect(await election.place(service, nodes, view(60n, rec('b', 60n)), all, silentLogger())).toMatchObject({ server: null, holdMs: 1 });
    now += 1;
    expect(await election.place(service, nodes, view(60n, rec('b', 60n)), all, silentLogger())).toMatchObject({ server: 'b', holdMs: 0 });
  });

  it('adopts the record it finds at start, and a first record, without a handover', async () => {
    const election = new WriterElection({ store: null, proxyId: 'p', metrics: createMetrics(), handoverMs: 500 });
    expect(await election.place(service, nodes, view(9n), upIn('a'), silentLogger())).toMatchObject({ server: null, epoch: null });
    expect(await election.place(service, nodes, view(10n, rec('c', 10n)), upIn('a', 'c'), silentLogger())).toMatchObject({ server: 'c', holdMs: 0 });
  });

  it('after winning a swap, a pass over a view older than the swap neither moves back nor proposes again', async () => {
    const swaps: bigint[] = [];
    const store: WriterStore = {
      async swap(key, epoch, value) {
        swaps.push(epoch);
        return { won: true, kv: { key, value, modRevision: 101n } };
      },
    };
    const { logger, lines } = logLines();
    const election = new WriterElection({ store, proxyId: 'p', metrics: createMetrics() });
    const stale = view(100n, rec('a', 50n));
    expect(await election.place(service, nodes, stale, upIn('b', 'c'), logger)).toMatchObject({ server: 'b', epoch: '101' });
    expect(await election.place(service, nodes, stale, upIn('b', 'c'), logger)).toMatchObject({ server: 'b', epoch: '101' });
    expect(swaps).toEqual([50n]);
    expect(await election.place(service, nodes, view(101n, rec('b', 101n)), upIn('b', 'c'), logger)).toMatchObject({ server: 'b', epoch: '101' });
    expect(lines.filter((l) => l['event'] === 'writer').map((l) => [l['from'], l['to'], l['epoch']])).toEqual([[null, 'b', '101']]);
  });

  it('without HAProxy health (render, a socket that does not answer) follows the record and does not claim to agree', async () => {
    const election = new WriterElection({ store: null, proxyId: 'p', metrics: createMetrics() });
    expect(await election.place(service, nodes, view(10n, rec('c', 10n)), null, silentLogger())).toMatchObject({ server: 'c', agrees: false });
    expect(await election.place(service, nodes, view(10n, rec('c', 10n)), upIn('c'), silentLogger())).toMatchObject({ server: 'c', agrees: true });
  });

  it('reports a record that does not decode once per value, naming the key', async () => {
    const { logger, lines } = logLines();
    const election = new WriterElection({ store: null, proxyId: 'p', metrics: createMetrics() });
    const bad = view(5n, { key: KEY, value: '{"node":', modRevision: 5n });
    for (let i = 0; i < 3; i += 1) expect(await election.place(service, nodes, bad, upIn('a'), logger)).toMatchObject({ server: null, malformed: expect.stringContaining('is not JSON') });
    const errors = lines.filter((l) => l['level'] === 'error' || l['level'] === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.['msg'])).toContain(`writer record ${KEY}: `);
  });
});
