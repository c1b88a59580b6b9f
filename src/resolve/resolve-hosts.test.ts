import { describe, expect, it } from 'vitest';
import { HostResolver, chooseAddress, replaceHostNames, type LookupHost } from './resolve-hosts.js';
import { decodeCluster } from '../model/decode-cluster.js';
import { parseHostsFile } from './system-lookup.js';
import { createLogger, silentLogger, type Logger } from '../observe/logger.js';

const PREFIX = '/components/galera';

function recordingLogger(): { log: Logger; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as { level: string; msg: string }) };
  return { log: createLogger({ level: 'debug', stream }), lines };
}

/** A DNS that answers from a table the test changes; a missing name fails like getaddrinfo does. */
function fakeLookup(table: Map<string, string[]>): LookupHost & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (name: string): Promise<string[]> => {
    calls.push(name);
    const found = table.get(name);
    if (found === undefined) throw new Error(`getaddrinfo ENOTFOUND ${name}`);
    return found;
  };
  return Object.assign(lookup, { calls });
}

const state = (ips: Record<string, string>) =>
  decodeCluster(PREFIX, Object.entries(ips).map(([id, ip]) => ({ key: `${PREFIX}/${id}/ip`, value: ip })));

describe('chooseAddress', () => {
  it('keeps the current address while it is answered, else prefers IPv4', () => {
    expect(chooseAddress('db', ['::1', '10.0.0.2', '10.0.0.1'], undefined)).toEqual({ ok: true, address: '10.0.0.2' });
    expect(chooseAddress('db', ['10.0.0.2', '10.0.0.1'], '10.0.0.1')).toEqual({ ok: true, address: '10.0.0.1' });
    expect(chooseAddress('db', ['0:0:0:0:0:0:0:1'], undefined)).toEqual({ ok: true, address: '::1' });
    expect(chooseAddress('db', ['0.0.0.0'], undefined)).toEqual({ ok: false, reason: 'no usable address among 0.0.0.0' });
  });
});

describe('replaceHostNames', () => {
  it('puts the IP in place of the name and keeps the name beside it', () => {
    const out = replaceHostNames(state({ a: 'db1.example', b: '10.0.0.9' }), new Map([['db1.example', { ok: true, address: '10.0.0.1' }]]));
    expect(out.nodes.map((n) => [n.name, n.address, n.hostname])).toEqual([
      ['a', '10.0.0.1', 'db1.example'],
      ['b', '10.0.0.9', undefined],
    ]);
  });

  it('rejects a name with no address against its ip key, and a second node on one resolved endpoint', () => {
    const out = replaceHostNames(
      state({ a: '10.0.0.1', b: 'db1.example', c: 'nowhere.example' }),
      new Map([
        ['db1.example', { ok: true, address: '10.0.0.1' }],
        ['nowhere.example', { ok: false, reason: 'getaddrinfo ENOTFOUND nowhere.example' }],
      ]),
    );
    expect(out.nodes.map((n) => n.name)).toEqual(['a']);
    expect(out.rejected).toEqual([
      { key: `${PREFIX}/b/ip`, id: 'b', reason: `db1.example resolves to 10.0.0.1:3306, which is already served by ${PREFIX}/a/ip, registered earlier; a second server for one node would double its share` },
      { key: `${PREFIX}/c/ip`, id: 'c', reason: 'host name nowhere.example does not resolve: getaddrinfo ENOTFOUND nowhere.example (node left out until it does)' },
    ]);
  });

  it('keeps the established node when a name registered later resolves to its endpoint, whatever the ids', () => {
    const decoded = decodeCluster(PREFIX, [
      { key: `${PREFIX}/a/ip`, value: 'db1.example', createRevision: 9n },
      { key: `${PREFIX}/z/ip`, value: '10.0.0.1', createRevision: 3n },
    ]);
    const out = replaceHostNames(decoded, new Map([['db1.example', { ok: true, address: '10.0.0.1' }]]));
    expect(out.nodes.map((n) => n.id)).toEqual(['z']);
    expect(out.rejected).toEqual([{ key: `${PREFIX}/a/ip`, id: 'a', reason: expect.stringContaining(`already served by ${PREFIX}/z/ip, registered earlier`) }]);
  });
});

describe('HostResolver', () => {
  it('leaves a state without names untouched and looks nothing up', async () => {
    const lookup = fakeLookup(new Map());
    const resolver = new HostResolver({ lookup });
    const s = state({ a: '10.0.0.1' });
    expect(await resolver.resolve(s, silentLogger())).toBe(s);
    expect(lookup.calls).toEqual([]);
    expect(resolver.hasNames()).toBe(false);
  });

  it('follows a DNS change, keeps the last good address through a failure with one warning, and says when it is back', async () => {
    const table = new Map([['db1.example', ['10.0.0.1']]]);
    const resolver = new HostResolver({ lookup: fakeLookup(table) });
    const { log, lines } = recordingLogger();
    const addressOf = async (): Promise<string | undefined> => (await resolver.resolve(state({ a: 'db1.example' }), log)).nodes[0]?.address;

    expect(await addressOf()).toBe('10.0.0.1');
    expect(resolver.hasNames()).toBe(true);
    table.set('db1.example', ['10.0.0.2']);
    expect(await addressOf()).toBe('10.0.0.2');
    table.delete('db1.example');
    expect(await addressOf()).toBe('10.0.0.2');
    expect(await addressOf()).toBe('10.0.0.2');
    table.set('db1.example', ['10.0.0.2']);
    expect(await addressOf()).toBe('10.0.0.2');
    expect(lines.map((l) => l.msg)).toEqual([
      'host name db1.example resolved to 10.0.0.1',
      'host name db1.example resolved to 10.0.0.2',
      'host name db1.example does not resolve (getaddrinfo ENOTFOUND db1.example); keeping its last address 10.0.0.2',
      'host name db1.example resolves again',
    ]);
  });

  it('counts a lookup that does not answer in time as failed', async () => {
    const resolver = new HostResolver({ lookup: () => new Promise(() => undefined), timeoutMs: 20 });
    const out = await resolver.resolve(state({ a: 'slow.example' }), silentLogger());
    expect(out.nodes).toEqual([]);
    expect(out.rejected[0]?.reason).toBe('host name slow.example does not resolve: no answer within 20 ms (node left out until it does)');
  });
});

describe('parseHostsFile', () => {
  it('reads addresses, aliases and comments', () => {
    const names = parseHostsFile('# test nodes\n127.0.0.71 node-a.test A # first\n::1 node-a.test\n\n127.0.0.72\tnode-b.test.\n');
    expect(names.get('node-a.test')).toEqual(['127.0.0.71', '::1']);
    expect(names.get('a')).toEqual(['127.0.0.71']);
    expect(names.get('node-b.test')).toEqual(['127.0.0.72']);
  });
});
