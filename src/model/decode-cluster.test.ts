import { describe, expect, it } from 'vitest';
import { PORT_MAY_FOLLOW_REASON, decodeCluster, decodeServices } from './decode-cluster.js';
import type { KeyValue } from './types.js';
import { findControlCharacter } from './validate-address.js';
import { fnv1a32 } from './server-name.js';

const P = '/components/galera';

function kvs(map: Record<string, string>): KeyValue[] {
  return Object.entries(map).map(([key, value]) => ({ key, value }));
}

/** Decodes one flat value under id `n1`. */
function flat(value: string) {
  return decodeCluster(P, [{ key: `${P}/n1`, value }]);
}

describe('decodeCluster layouts', () => {
  it('decodes the seed layout with ip, port and host', () => {
    const state = decodeCluster(
      P,
      kvs({
        [`${P}/db1/ip`]: '10.0.0.1',
        [`${P}/db1/port`]: '3307',
        [`${P}/db1/host`]: 'db1.example.org',
        [`${P}/db1/service_instance_name`]: 'mariadb-db1',
      }),
    );
    expect(state.rejected).toEqual([]);
    expect(state.nodes).toEqual([
      {
        id: 'db1',
        name: 'db1.example.org',
        address: '10.0.0.1',
        port: 3307,
        weight: 1,
        backup: false,
        host: 'db1.example.org',
        keys: [`${P}/db1/host`, `${P}/db1/ip`, `${P}/db1/port`, `${P}/db1/service_instance_name`],
      },
    ]);
  });

  it('applies defaults: port 3306, weight 1, backup false', () => {
    const state = decodeCluster(P, kvs({ [`${P}/db1/ip`]: '10.0.0.1' }));
    expect(state.nodes[0]).toMatchObject({ port: 3306, weight: 1, backup: false });
    expect(state.nodes[0]?.host).toBeUndefined();
  });

  it('reads weight and backup in the seed layout', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/weight`]: '0', [`${P}/a/backup`]: 'true' }));
    expect(state.nodes[0]).toMatchObject({ weight: 0, backup: true });
  });

  it('treats a seed node without ip as incomplete, not rejected', () => {
    const state = decodeCluster(P, kvs({ [`${P}/db1/port`]: '3306', [`${P}/db1/host`]: 'db1' }));
    expect(state.nodes).toEqual([]);
    expect(state.rejected).toEqual([]);
    expect(state.incomplete).toEqual([{ key: `${P}/db1/ip`, id: 'db1', reason: expect.stringContaining('no "ip"') }]);
  });

  it.each([
    ['10.0.0.1', '10.0.0.1', 3306],
    ['10.0.0.1:3307', '10.0.0.1', 3307],
    ['[2001:db8::1]:3307', '2001:db8::1', 3307],
    ['[2001:db8::1]', '2001:db8::1', 3306],
    ['2001:db8::1', '2001:db8::1', 3306],
    ['::1:3306', '::1:3306', 3306],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 3306],
    ['db-1.example.org:3307', 'db-1.example.org', 3307],
    ['DB1.Example.org', 'db1.example.org', 3306],
    ['localhost', 'localhost', 3306],
    ['  10.0.0.1:3306\n', '10.0.0.1', 3306],
    ['10.0.0.1: 3306', null, 0],
  ])('flat value %j', (value, address, port) => {
    const state = flat(value);
    if (address === null) {
      expect(state.nodes).toEqual([]);
      expect(state.rejected).toHaveLength(1);
    } else {
      expect(state.rejected).toEqual([]);
      expect(state.nodes[0]).toMatchObject({ id: 'n1', address, port, weight: 1, backup: false });
    }
  });

  it('decodes flat JSON with every field', () => {
    const state = flat('{"ip":"10.0.0.5","port":3310,"weight":10,"backup":true,"host":"db5"}');
    expect(state.nodes[0]).toMatchObject({ address: '10.0.0.5', port: 3310, weight: 10, backup: true, host: 'db5' });
  });

  it('decodes JSON with IPv6 in brackets or bare', () => {
    expect(flat('{"ip":"[::1]"}').nodes[0]?.address).toBe('::1');
    expect(flat('{"ip":"fd00::2","port":3306}').nodes[0]?.address).toBe('fd00::2');
  });

  it('mixes all three layouts under one prefix, normalising a trailing slash', () => {
    const state = decodeCluster(
      `${P}///`,
      kvs({
        [`${P}/c/ip`]: '10.0.0.3',
        [`${P}/a`]: '10.0.0.1:3306',
        [`${P}/b`]: '{"ip":"10.0.0.2"}',
      }),
    );
    expect(state.nodes.map((n) => [n.name, n.address])).toEqual([
      ['a', '10.0.0.1'],
      ['b', '10.0.0.2'],
      ['c', '10.0.0.3'],
    ]);
  });

  it('ignores keys outside the prefix without a rejection', () => {
    const state = decodeCluster(P, kvs({ [`${P}-old/a`]: '10.0.0.1', '/other/b': '10.0.0.2', [P]: 'x' }));
    expect(state).toEqual({ nodes: [], rejected: [], incomplete: [] });
  });

  it('rejects deeper keys and unknown leaves but keeps the node', () => {
    const state = decodeCluster(
      P,
      kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/colour`]: 'blue', [`${P}/a/x/y`]: 'z', [`${P}//ip`]: '10.0.0.9' }),
    );
    expect(state.nodes.map((n) => n.id)).toEqual(['a']);
    expect(state.rejected.map((r) => r.key).sort()).toEqual([`${P}//ip`, `${P}/a/colour`, `${P}/a/x/y`]);
    expect(state.rejected.find((r) => r.key.endsWith('colour'))?.reason).toMatch(/unknown field "colour"/);
    expect(state.rejected.find((r) => r.key.endsWith('x/y'))?.reason).toMatch(/deeper/);
  });

  it('rejects an id registered in both the flat and the seed layout', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a`]: '10.0.0.1', [`${P}/a/ip`]: '10.0.0.1' }));
    expect(state.nodes).toEqual([]);
    expect(state.rejected[0]?.reason).toMatch(/both as a flat value/);
  });

  it('keeps a node with a bad informational host, reporting the host key', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/host`]: 'bad host\nname' }));
    expect(state.nodes).toHaveLength(1);
    expect(state.rejected).toEqual([{ key: `${P}/a/host`, id: 'a', reason: expect.stringContaining('node kept') }]);
  });

  it('rejects the later id (sorted) for a duplicate address:port when neither carries a revision, whatever the key order', () => {
    const forward = kvs({ [`${P}/a`]: '10.0.0.1', [`${P}/b/ip`]: '10.0.0.1', [`${P}/b/port`]: '3306' });
    for (const order of [forward, [...forward].reverse()]) {
      const state = decodeCluster(P, order);
      expect(state.nodes.map((n) => n.id)).toEqual(['a']);
      expect(state.rejected).toEqual([
        { key: `${P}/b/ip`, id: 'b', reason: expect.stringContaining(`10.0.0.1:3306 is already served by ${P}/a, registered earlier`) },
      ]);
    }
  });

  it('keeps the established registration of a duplicate address:port, even when its id sorts later', () => {
    const uuid = '3397ba6c-54f3-4c4e-9d0a-0b5e7cca75f4';
    const established: KeyValue[] = [
      { key: `${P}/${uuid}/ip`, value: '127.0.0.161', createRevision: 5n },
      { key: `${P}/${uuid}/port`, value: '3306', createRevision: 6n },
      { key: `${P}/${uuid}/host`, value: 'db1', createRevision: 7n },
    ];
    const stray: KeyValue = { key: `${P}/0-dup/ip`, value: '127.0.0.161', createRevision: 42n };
    for (const order of [[...established, stray], [stray, ...established].reverse()]) {
      const state = decodeCluster(P, order);
      expect(state.nodes.map((n) => [n.id, n.createRevision])).toEqual([[uuid, 5n]]);
      // One rejection naming both keys: the stray one it is filed against, and the one that keeps the address.
      expect(state.rejected).toEqual([
        { key: `${P}/0-dup/ip`, id: '0-dup', reason: expect.stringContaining(`127.0.0.161:3306 is already served by ${P}/${uuid}/ip, registered earlier`) },
      ]);
    }
    // Stable across passes, so the decision log (which reports a rejection only when it is new) says it once.
    expect(decodeCluster(P, [stray, ...established]).rejected).toEqual(decodeCluster(P, [...established, stray]).rejected);
  });

  it('ranks a node by the first-created of its keys: re-putting one key does not make it newer', () => {
    const state = decodeCluster(P, [
      { key: `${P}/a/ip`, value: '10.0.0.1', createRevision: 20n },
      { key: `${P}/b/ip`, value: '10.0.0.1', createRevision: 30n },
      { key: `${P}/b/host`, value: 'b', createRevision: 10n },
    ]);
    expect(state.nodes.map((n) => n.id)).toEqual(['b']);
    expect(state.rejected.map((r) => r.id)).toEqual(['a']);
  });

  it('treats two spellings of one IPv6 address as a duplicate', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a`]: '[fd00::1]:3306', [`${P}/b`]: '[FD00:0::1]' }));
    expect(state.nodes.map((n) => n.id)).toEqual(['a']);
    expect(state.rejected[0]?.reason).toContain('[fd00::1]:3306 is already served by');
  });

  it('keeps each node\'s name while it stays registered: a shared host name never moves to another node', () => {
    // Three nodes on hosts that all call themselves "vm": the first registered gets the host name, the
    // others fall back to their ids.
    const node = (id: string, ip: string, rev: bigint): KeyValue[] => [
      { key: `${P}/${id}/ip`, value: ip, createRevision: rev },
      { key: `${P}/${id}/host`, value: 'vm', createRevision: rev },
    ];
    const all = [...node('node1', '10.0.0.1', 5n), ...node('node2', '10.0.0.2', 6n), ...node('node3', '10.0.0.3', 7n)];
    const start = decodeCluster(P, all);
    expect(start.nodes.map((n) => [n.id, n.name])).toEqual([['node2', 'node2'], ['node3', 'node3'], ['node1', 'vm']]);
    const previousNames = new Map(start.nodes.map((n) => [n.id, n.name]));
    // node1 (holding "vm") leaves: node2 keeps "node2", so HAProxy's healthy server is not renamed.
    const left = decodeCluster(P, all.filter((kv) => !kv.key.includes('node1')), { previousNames });
    expect(left.nodes.map((n) => [n.id, n.name])).toEqual([['node2', 'node2'], ['node3', 'node3']]);
    // Without the previous names the name would move (the defect this guards).
    expect(decodeCluster(P, all.filter((kv) => !kv.key.includes('node1'))).nodes.find((n) => n.id === 'node2')?.name).toBe('vm');
    // node1 comes back registered later: the free host name is its again, nobody else's name changes.
    const back = decodeCluster(P, [...all.filter((kv) => !kv.key.includes('node1')), ...node('node1', '10.0.0.1', 40n)], { previousNames: new Map(left.nodes.map((n) => [n.id, n.name])) });
    expect(back.nodes.map((n) => [n.id, n.name])).toEqual([['node2', 'node2'], ['node3', 'node3'], ['node1', 'vm']]);
  });

  it('after a start, keeps the names the running config serves each address under', () => {
    const node = (id: string, ip: string, rev: bigint): KeyValue[] => [
      { key: `${P}/${id}/ip`, value: ip, createRevision: rev },
      { key: `${P}/${id}/host`, value: 'vm', createRevision: rev },
    ];
    // node1 left and came back (registered later than node2), and kept "vm" while the daemon ran.
    const kvs2 = [...node('node2', '10.0.0.2', 6n), ...node('node1', '10.0.0.1', 40n)];
    expect(decodeCluster(P, kvs2).nodes.map((n) => [n.id, n.name])).toEqual([['node1', 'node1'], ['node2', 'vm']]);
    const runningNames = new Map([['10.0.0.1:3306', 'vm'], ['10.0.0.2:3306', 'node2'], ['10.0.0.9:3306', 'gone']]);
    expect(decodeCluster(P, kvs2, { runningNames }).nodes.map((n) => [n.id, n.name])).toEqual([['node2', 'node2'], ['node1', 'vm']]);
    // A running name the node may not take (another node's id) is not reserved for it.
    expect(decodeCluster(P, kvs2, { runningNames: new Map([['10.0.0.1:3306', 'node2']]) }).nodes.map((n) => [n.id, n.name])).toEqual([['node1', 'node1'], ['node2', 'vm']]);
  });

  it('allows one address on two ports', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a`]: '10.0.0.1:3306', [`${P}/b`]: '10.0.0.1:3307' }));
    expect(state.nodes).toHaveLength(2);
  });

  it('gives unique names even when an id spells out another id\'s hashed name', () => {
    const first = decodeCluster(P, kvs({ [`${P}/db 1`]: '10.0.0.1' }));
    const hashed = first.nodes[0]?.name ?? '';
    expect(hashed).toMatch(/^db_1-[0-9a-f]{8}$/);
    const state = decodeCluster(P, kvs({ [`${P}/db 1`]: '10.0.0.1', [`${P}/${hashed}`]: '10.0.0.2' }));
    const names = state.nodes.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
    // The later one falls back to its own hashed name rather than being left out.
    expect(state.rejected).toEqual([]);
    expect(names).toEqual([hashed, `${hashed}-${fnv1a32(hashed)}`].sort());
  });

  it('sorts nodes by name and lists the keys each came from', () => {
    const state = decodeCluster(P, kvs({ [`${P}/z`]: '10.0.0.3', [`${P}/m/ip`]: '10.0.0.2', [`${P}/a`]: '10.0.0.1' }));
    expect(state.nodes.map((n) => n.name)).toEqual(['a', 'm', 'z']);
    expect(state.nodes[1]?.keys).toEqual([`${P}/m/ip`]);
  });
});

/** Hostile or malformed values: each must be rejected with a reason, and never become a node. */
const HOSTILE_FLAT: ReadonlyArray<readonly [string, RegExp]> = [
  ['10.0.0.1:3306\n  server evil 6.6.6.6:3306', /control character U\+000A/],
  ['10.0.0.1\r\nserver evil 6.6.6.6', /control character U\+000D/],
  ['10.0.0.1\t:3306', /control character U\+0009/],
  ['10.0.0.1\u0000', /control character U\+0000/],
  ['10.0.0.1\u2028', /control character U\+2028/],
  ['10.0.0.1\u0085', /control character U\+0085/],
  ['10.0.0.1 #comment', /'#'/],
  ['10.0.0.1#', /'#'/],
  ['10.0.0.1 3306', /host name|IPv4/],
  ['10.0.0.1 weight 100', /host name|IPv4/],
  ['', /empty/],
  ['   ', /empty/],
  ['10.0.0.1:0', /port "0" is out of range 1-65535/],
  ['10.0.0.1:65536', /port "65536" is out of range 1-65535/],
  ['10.0.0.1:99999', /port "99999" is out of range 1-65535/],
  ['10.0.0.1:-1', /port "-1" is not a decimal integer/],
  ['10.0.0.1:1e3', /port "1e3" is not a decimal integer/],
  ['10.0.0.1:0x10', /port "0x10" is not a decimal integer/],
  ['10.0.0.1:03306', /leading zero/],
  ['10.0.0.1:', /port "" is not a decimal integer/],
  ['10.0.0.1:3306.0', /not a decimal integer/],
  [':3306', /no address/],
  ['010.0.0.1', /leading zero/],
  ['10.0.0.256', /out of range 0-255/],
  ['10.0.0', /neither a valid IPv4 address nor a host name|dotted-quad/],
  ['1.2.3.4.5', /dotted-quad/],
  ['0.0.0.0', /unspecified/],
  ['[::]', /unspecified/],
  ['fe80::1%eth0', /zone id/],
  ['[fe80::1%25eth0]:3306', /zone id/],
  ['[2001:db8::1', /\[ipv6\]/],
  ['[10.0.0.1]:3306', /not a valid IPv6/],
  ['2001:db8::g', /not a valid IPv6/],
  ['[2001:db8::1]:3306:1', /port "3306:1" is not a decimal integer/],
  ['dbé.example.org', /only letters, digits/],
  ['db\u200b1', /only letters, digits/],
  ['-db1.example.org', /starting or ending with '-'/],
  ['db1-.example.org', /starting or ending with '-'/],
  ['db1..example.org', /empty label/],
  [`${'a'.repeat(64)}.example.org`, /longer than 63/],
  [`${'abcdefghi.'.repeat(26)}org`, /1-253 characters/],
  ['db_1.example.org', /only letters, digits/],
  ['x'.repeat(2000), /max 1024/],
  // JSON: wrong types, extra keys, nested objects, huge numbers, escaped control characters.
  ['{"ip":"10.0.0.1","port":"33\\n06"}', /"port": value "33\\n06" contains control character U\+000A/],
  ['{"ip":"10.0.0.1","port":"3306#"}', /'#'/],
  ['{"ip":"10.0.0.1","port":"70000"}', /"port": port "70000" is out of range 1-65535/],
  ['{"ip":"10.0.0.1","port":"0x10"}', /"port": port "0x10" is not a decimal integer/],
  ['{"ip":"10.0.0.1","port":"3306.0"}', /not a decimal integer/],
  ['{"ip":"10.0.0.1","port":""}', /"port": value is empty/],
  ['{"ip":"10.0.0.1","port":true}', /"port" must be an integer or a decimal string, got boolean true/],
  ['{"ip":"10.0.0.1","weight":"-1"}', /"weight": weight "-1" is not a decimal integer/],
  ['{"ip":"10.0.0.1","port":3306.5}', /not an integer/],
  ['{"ip":"10.0.0.1","port":1e400}', /not an integer/],
  ['{"ip":"10.0.0.1","port":70000}', /out of range 1-65535/],
  ['{"ip":"10.0.0.1","weight":257}', /weight "257" is out of range 0-256/],
  ['{"ip":"10.0.0.1","weight":-1}', /out of range 0-256/],
  ['{"ip":"10.0.0.1","backup":"true"}', /"backup" must be true or false/],
  ['{"ip":"10.0.0.1","backup":1}', /"backup" must be true or false/],
  ['{"ip":{"v4":"10.0.0.1"}}', /"ip" must be a string, got an object/],
  ['{"ip":["10.0.0.1"]}', /"ip" must be a string, got an array/],
  ['{"ip":null}', /got null/],
  ['{"port":3306}', /no "ip"/],
  ['{"ip":"10.0.0.1\\n  server evil 6.6.6.6:3306"}', /control character U\+000A/],
  ['{"ip":"10.0.0.1","host":"evil\\nhost"}', /control character/],
  ['{"ip":"10.0.0.1",', /not valid JSON/],
  ['{"ip":"10.0.0.1"} trailing', /not valid JSON/],
  ['[1,2]', /"1,2" is not a valid IPv6 address/],
];

describe('decodeCluster rejects hostile values', () => {
  it.each(HOSTILE_FLAT)('flat %j', (value, reason) => {
    const state = flat(value);
    expect(state.nodes).toEqual([]);
    expect(state.rejected).toHaveLength(1);
    expect(state.rejected[0]).toMatchObject({ key: `${P}/n1`, id: 'n1' });
    expect(state.rejected[0]?.reason).toMatch(reason);
    // One line an operator can read: the reason never carries the raw control characters.
    expect(findControlCharacter(state.rejected[0]?.reason ?? '')).toBeUndefined();
  });

  it.each([
    ['ip', '10.0.0.1\nserver evil 6.6.6.6', /control character/],
    ['ip', '999.1.1.1', /out of range/],
    ['port', ' 3306 x', /not a decimal integer/],
    ['port', '65536', /out of range/],
    ['weight', '300', /out of range 0-256/],
    ['weight', 'ten', /not a decimal integer/],
    ['backup', 'yes', /must be "true" or "false"/],
  ])('seed field %s = %j', (leaf, value, reason) => {
    const base = { [`${P}/n1/ip`]: '10.0.0.1' };
    const state = decodeCluster(P, kvs({ ...base, [`${P}/n1/${leaf}`]: value }));
    expect(state.nodes).toEqual([]);
    expect(state.rejected).toEqual([{ key: `${P}/n1/${leaf}`, id: 'n1', reason: expect.stringMatching(reason) }]);
  });

  it.each([
    ['{"ip":"10.0.0.1","port":"3307"}', 3307, 1],
    ['{"ip":"10.0.0.1","port":" 3307 "}', 3307, 1],
    ['{"ip":"10.0.0.1","port":3307,"weight":"10"}', 3307, 10],
  ])('accepts a JSON port or weight written as a decimal string, as the seed layout does: %j', (value, port, weight) => {
    const state = flat(value);
    expect(state.rejected).toEqual([]);
    expect(state.nodes[0]).toMatchObject({ address: '10.0.0.1', port, weight });
  });

  it('ignores unknown JSON fields, keeping the node and noting the fields for the debug log', () => {
    const state = flat('{"ip":"10.0.0.1","port":3306,"datacenter":"eu-1","wieght":10}');
    expect(state.rejected).toEqual([]);
    expect(state.nodes).toHaveLength(1);
    expect(state.notes).toEqual([{ key: `${P}/n1`, id: 'n1', reason: expect.stringContaining('JSON field "datacenter", "wieght" ignored') }]);
    expect(flat('{"ip":"10.0.0.1"}').notes).toBeUndefined();
  });

  it('accepts a port with surrounding whitespace, which is trimmed', () => {
    const state = decodeCluster(P, kvs({ [`${P}/n1/ip`]: '10.0.0.1', [`${P}/n1/port`]: ' 3306 ' }));
    expect(state.nodes[0]?.port).toBe(3306);
  });

  it('accepts ids with odd characters, naming them safely', () => {
    const odd = ['db 1', 'db\n1', 'dé1', '../etc', 'x'.repeat(100), 'a:b', 'server evil'];
    const state = decodeCluster(
      P,
      odd.map((id, i) => ({ key: `${P}/${id}`, value: `10.0.1.${i + 1}` })),
    );
    expect(state.rejected.filter((r) => !r.reason.includes('unknown field'))).toEqual([]);
    for (const node of state.nodes) expect(node.name).toMatch(/^[A-Za-z0-9_.:-]{1,41}$/);
    expect(new Set(state.nodes.map((n) => n.name)).size).toBe(state.nodes.length);
    // `../etc` has a slash, so it is a seed-layout key with an unknown field, not an id.
    expect(state.rejected).toHaveLength(1);
  });
});

describe('decodeCluster holds back a seed node whose port may follow its ip', () => {
  const ipAt = (id: string, createRevision: bigint): KeyValue => ({ key: `${P}/${id}/ip`, value: '10.0.0.1', createRevision });

  it('waits one pass for a node whose ip appeared since the previous pass, without port', () => {
    const state = decodeCluster(P, [ipAt('db1', 11n)], { portMayFollowAfter: 10n });
    expect(state.nodes).toEqual([]);
    expect(state.rejected).toEqual([]);
    expect(state.incomplete).toEqual([{ key: `${P}/db1/port`, id: 'db1', reason: PORT_MAY_FOLLOW_REASON }]);
    expect(state.settleSoon).toBe(true);
  });

  it('serves it on the default port once a pass has seen the ip (the port never came)', () => {
    for (const previous of [11n, 12n]) {
      const state = decodeCluster(P, [ipAt('db1', 11n)], { portMayFollowAfter: previous });
      expect(state.nodes.map((n) => [n.id, n.port])).toEqual([['db1', 3306]]);
      expect(state.incomplete).toEqual([]);
      expect(state.settleSoon).toBeUndefined();
    }
  });

  it('does not wait when the port is there, the layout is flat, or there was no previous pass', () => {
    const withPort = decodeCluster(P, [ipAt('db1', 11n), { key: `${P}/db1/port`, value: '3307', createRevision: 12n }], { portMayFollowAfter: 10n });
    expect(withPort.nodes.map((n) => n.port)).toEqual([3307]);
    const flatValue = decodeCluster(P, [{ key: `${P}/db1`, value: '10.0.0.1', createRevision: 11n }], { portMayFollowAfter: 10n });
    expect(flatValue.nodes.map((n) => n.port)).toEqual([3306]);
    const firstPass = decodeCluster(P, [ipAt('db1', 11n)]);
    expect(firstPass.nodes.map((n) => n.port)).toEqual([3306]);
    // Values without a create revision (not from etcd) are never held back.
    const noRevision = decodeCluster(P, kvs({ [`${P}/db1/ip`]: '10.0.0.1' }), { portMayFollowAfter: 10n });
    expect(noRevision.nodes.map((n) => n.port)).toEqual([3306]);
    for (const state of [withPort, flatValue, firstPass, noRevision]) expect(state.settleSoon).toBeUndefined();
  });

  it('holds back only the new node; one already seen keeps being served', () => {
    const state = decodeCluster(P, [ipAt('old', 5n), { key: `${P}/new/ip`, value: '10.0.0.2', createRevision: 11n }], { portMayFollowAfter: 10n });
    expect(state.nodes.map((n) => n.id)).toEqual(['old']);
    expect(state.incomplete.map((r) => r.id)).toEqual(['new']);
    expect(state.settleSoon).toBe(true);
  });
});

describe('decodeCluster reads the draining attribute', () => {
  it('in the seed layout: <id>/draining = true drains the node, false or absent does not', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/draining`]: 'true', [`${P}/b/ip`]: '10.0.0.2', [`${P}/b/draining`]: 'false', [`${P}/c/ip`]: '10.0.0.3' }));
    expect(state.rejected).toEqual([]);
    expect(state.nodes.map((n) => [n.id, n.draining])).toEqual([['a', true], ['b', undefined], ['c', undefined]]);
    expect(state.nodes[0]?.keys).toContain(`${P}/a/draining`);
  });

  it('in JSON: a "draining" field', () => {
    expect(flat('{"ip":"10.0.0.5","draining":true}').nodes[0]?.draining).toBe(true);
    expect(flat('{"ip":"10.0.0.5","draining":false}').nodes[0]?.draining).toBeUndefined();
  });

  it('beside a flat value of either form: the one leaf a flat value may have', () => {
    for (const value of ['10.0.0.5:3307', '{"ip":"10.0.0.5","port":3307}']) {
      const state = decodeCluster(P, kvs({ [`${P}/n1`]: value, [`${P}/n1/draining`]: 'true' }));
      expect(state.rejected).toEqual([]);
      expect(state.nodes[0]).toMatchObject({ address: '10.0.0.5', port: 3307, draining: true, keys: [`${P}/n1`, `${P}/n1/draining`] });
    }
    // Any other leaf beside a flat value is still two layouts for one id.
    expect(decodeCluster(P, kvs({ [`${P}/n1`]: '10.0.0.5', [`${P}/n1/draining`]: 'true', [`${P}/n1/port`]: '3307' })).nodes).toEqual([]);
  });

  it('rejects a bad draining value with one line naming the key', () => {
    const seed = decodeCluster(P, kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/draining`]: 'yes' }));
    expect(seed.nodes).toEqual([]);
    expect(seed.rejected).toEqual([{ key: `${P}/a/draining`, id: 'a', reason: 'draining "yes" must be "true" or "false"' }]);
    const beside = decodeCluster(P, kvs({ [`${P}/n1`]: '10.0.0.5', [`${P}/n1/draining`]: 'true\nbackup' }));
    expect(beside.rejected.map((r) => r.key)).toEqual([`${P}/n1/draining`]);
    expect(beside.rejected[0]?.reason).not.toContain('\n');
    const json = flat('{"ip":"10.0.0.5","draining":"yes"}');
    expect(json.rejected).toEqual([{ key: `${P}/n1`, id: 'n1', reason: 'JSON "draining" must be true or false, got string "yes"' }]);
  });
});

describe('single-writer fields', () => {
  const record = JSON.stringify({ node: 'db1', by: 'proxy-a', reason: 'no writer record' });

  it('never decodes the writer record as a node: the default key and a service\'s own', () => {
    const base = { name: 'galera', prefix: `${P}/`, defaultPort: 3306 };
    const values = kvs({ [`${P}/db1`]: '10.0.0.1', [`${P}/_writer`]: record, [`${P}/leader`]: record });
    const byDefault = decodeServices([base], values);
    expect(byDefault.nodes.map((n) => n.id)).toEqual(['db1']);
    // `leader` is not this service's record key: it is a (bad) node, rejected with its reason.
    expect(byDefault.rejected.map((r) => r.key)).toEqual([`${P}/leader`]);
    const ownKey = decodeServices([{ ...base, writerKey: `${P}/leader` }], values);
    expect(ownKey.rejected.map((r) => r.key)).toEqual([`${P}/_writer`]);
    expect(decodeServices([base, { name: 'web', prefix: '/web/', defaultPort: 80 }], values).rejected.map((r) => r.key)).toEqual([`${P}/leader`]);
  });

  it('reads priority from the seed layout and from JSON; absent stays absent (1)', () => {
    const state = decodeCluster(P, kvs({ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/priority`]: '0', [`${P}/b`]: '{"ip":"10.0.0.2","priority":7}', [`${P}/c`]: '{"ip":"10.0.0.3","priority":"3"}', [`${P}/d`]: '10.0.0.4' }));
    expect(state.nodes.map((n) => [n.id, n.priority])).toEqual([['a', 0], ['b', 7], ['c', 3], ['d', undefined]]);
    expect(state.rejected).toEqual([]);
  });

  it.each([
    [{ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/priority`]: '-1' }, `${P}/a/priority`, 'priority "-1" is not a decimal integer'],
    [{ [`${P}/a/ip`]: '10.0.0.1', [`${P}/a/priority`]: 'high' }, `${P}/a/priority`, 'priority "high" is not a decimal integer'],
    [{ [`${P}/a`]: '{"ip":"10.0.0.1","priority":1.5}' }, `${P}/a`, 'JSON "priority": priority "1.5" is not an integer'],
    [{ [`${P}/a`]: '{"ip":"10.0.0.1","priority":99999999}' }, `${P}/a`, 'JSON "priority": priority "99999999" is out of range 0-1000000'],
  ])('rejects a bad priority with the key and the reason', (values, key, reason) => {
    const state = decodeCluster(P, kvs(values));
    expect(state.nodes).toEqual([]);
    expect(state.rejected).toEqual([{ key, id: 'a', reason }]);
  });
});
