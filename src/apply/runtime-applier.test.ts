import { describe, expect, it } from 'vitest';
import { ApplyError } from '../errors.js';
import { silentLogger } from '../observe/logger.js';
import { createApplier, dynamicServerOptions } from './runtime-applier.js';
import type { Reloader } from './types.js';

interface FakeServer {
  backend: string;
  name: string;
  address: string;
  port: number;
  weight: number;
  admin: number;
  scur: number;
}

/**
 * A stats socket that answers like haproxy 2.6 and records every request (each line of a batch counts as
 * one). `refuse` names servers whose `add server` it refuses, as HAProxy does a keyword it cannot take.
 */
function fakeSocket(servers: FakeServer[], refuse: readonly string[] = []) {
  const requests: string[] = [];
  const batches: string[][] = [];
  let broken = false;
  let failFrom = Infinity;
  const answer = (command: string): string => {
    if (command === 'show servers state') {
      const lines = servers.map((s, i) => `2 ${s.backend} ${i + 1} ${s.name} ${s.address} 2 ${s.admin} ${s.weight} ${s.weight} 3 8 2 0 6 0 0 0 - ${s.port} - 0 9200 - - 0`);
      return ['1', '# be_id be_name srv_id srv_name', ...lines].join('\n');
    }
    if (command === 'show stat -1 4 -1') {
      return ['# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck', ...servers.map((s) => `${s.backend},${s.name},0,0,${s.scur},0,,0,0,0,,0,,0,0,0,0,UP,${s.weight},1,0`)].join('\n');
    }
    const del = /^del server (\S+)\/(\S+)$/.exec(command);
    if (del) {
      servers.splice(servers.findIndex((s) => s.backend === del[1] && s.name === del[2]), 1);
      return 'Server deleted.';
    }
    const add = /^add server (\S+) /.exec(command);
    if (add) return refuse.includes(add[1] ?? '') ? "'cookie' : unknown keyword." : 'New server registered.';
    if (/^set server \S+ addr /.test(command)) return 'IP changed from x to y';
    const state = /^set server (\S+)\/(\S+) state drain$/.exec(command);
    const target = state ? servers.find((s) => s.backend === state[1] && s.name === state[2]) : undefined;
    if (target) target.admin = 8;
    return '';
  };
  const send = (request: string): Promise<string> => {
    requests.push(request);
    if (broken || requests.length > failFrom) return Promise.reject(new ApplyError('RUNTIME_API', 'no complete reply within 5000 ms', { retryable: true }));
    const replies = request.split('; ').map(answer);
    return Promise.resolve(replies.length === 1 ? `${replies[0] ?? ''}\n\n` : replies.map((r) => (r === '' ? '\n' : `${r}\n\n`)).join(''));
  };
  // Interactive mode: `prompt`'s own prompt, then each command's reply followed by one.
  const sendBatch = (lines: readonly string[]): Promise<string> => {
    batches.push([...lines]);
    requests.push(...lines);
    if (broken || requests.length > failFrom) return Promise.reject(new ApplyError('RUNTIME_API', 'no complete reply within 5000 ms', { retryable: true }));
    const replies = lines.flatMap((line) => line.split('; ').map(answer));
    return Promise.resolve(`\n> ${replies.map((r) => (r === '' ? '\n> ' : `${r}\n\n> `)).join('')}`);
  };
  return { send, sendBatch, requests, batches, break: () => (broken = true), breakAfter: (count: number) => (failFrom = count) };
}

function countingReloader(): Reloader & { reasons: string[] } {
  const reasons: string[] = [];
  return { reasons, reload: (reason) => Promise.resolve(void reasons.push(reason)) };
}

const server = (name: string, octet: number, extra: Partial<FakeServer> = {}): FakeServer => ({
  backend: 'galera',
  name,
  address: `10.0.0.${octet}`,
  port: 3306,
  weight: 10,
  admin: 0,
  scur: 0,
  ...extra,
});

function config(servers: readonly FakeServer[], { maxconn = 100, defaults = '', backend = 'check port 9200 inter 1s' } = {}): string {
  return [
    'global',
    `  maxconn ${maxconn}`,
    '  server-state-file /nonexistent/state',
    'defaults',
    '  mode tcp',
    ...(defaults === '' ? [] : [`  default-server ${defaults}`]),
    'listen galera',
    '  bind 127.0.0.1:3306',
    ...(backend === '' ? [] : [`  default-server ${backend}`]),
    ...servers.map((s) => `  server ${s.name} ${s.address}:${s.port} weight ${s.weight}`),
  ].join('\n');
}

function applierOn(socket: ReturnType<typeof fakeSocket>, reloader = countingReloader(), drainTimeoutMs = 60_000) {
  return createApplier({
    statsSocket: '/nonexistent.sock',
    send: socket.send,
    sendBatch: socket.sendBatch,
    reloader,
    minReloadIntervalMs: 0,
    drainTimeoutMs,
    drainPollMs: 5,
    confirmTimeoutMs: 200,
    logger: silentLogger(),
  });
}

describe('an unreadable runtime', () => {
  const live = [server('a', 1), server('b', 2)];

  it('makes drift repair fail as retryable, without a reload', async () => {
    const socket = fakeSocket(live.map((s) => ({ ...s })));
    const reloader = countingReloader();
    socket.break();
    const result = await applierOn(socket, reloader).reconcile(config(live), '7');
    expect(result.outcome).toBe('failed');
    expect(result.error).toBeInstanceOf(ApplyError);
    expect((result.error as ApplyError).retryable).toBe(true);
    expect(reloader.reasons).toEqual([]);
  });

  it('makes a pass fail as retryable, even one whose structure needs a reload', async () => {
    const socket = fakeSocket(live.map((s) => ({ ...s })));
    const reloader = countingReloader();
    socket.break();
    const applier = applierOn(socket, reloader);
    const serverOnly = await applier.apply({ previous: config(live), next: config([...live, server('c', 3)]), revision: '8' });
    const structural = await applier.apply({ previous: config(live), next: config(live, { maxconn: 200 }), revision: '9' });
    for (const result of [serverOnly, structural]) {
      expect(result.outcome).toBe('failed');
      expect((result.error as ApplyError).retryable).toBe(true);
    }
    expect(structural.plan.reloadReasons[0]).toContain('maxconn');
    expect(reloader.reasons).toEqual([]);
  });

  it('stops a reload whose server states cannot be dumped: a stale state file would start dead nodes UP', async () => {
    const socket = fakeSocket(live.map((s) => ({ ...s })));
    const reloader = countingReloader();
    // The two reads of the plan answer; the dump before the reload does not.
    socket.breakAfter(2);
    const result = await applierOn(socket, reloader).apply({ previous: config(live), next: config(live, { maxconn: 200 }), revision: '10' });
    expect(socket.requests[2]).toBe('show servers state');
    expect(result.outcome).toBe('failed');
    expect((result.error as ApplyError).retryable).toBe(true);
    expect(reloader.reasons).toEqual([]);
  });
});

describe('default-server', () => {
  it('merges the defaults section with the backend for a server added at runtime', async () => {
    const socket = fakeSocket([server('a', 1)]);
    const next = config([server('a', 1), server('b', 2)], { defaults: 'check inter 500ms', backend: 'weight 10' });
    const result = await applierOn(socket).apply({ previous: config([server('a', 1)], { defaults: 'check inter 500ms', backend: 'weight 10' }), next, revision: '2' });
    expect(result.outcome).toBe('runtime');
    const add = socket.requests.find((r) => r.startsWith('add server'));
    expect(add).toBe('add server galera/b 10.0.0.2:3306 weight 0 check inter 500ms; enable health galera/b; enable server galera/b; set server galera/b health down; set server galera/b weight 10');
  });

  it('drops start-up-only keywords and what a later no- keyword undoes', () => {
    expect(dynamicServerOptions(['check', 'init-addr', 'last,libc,none', 'inter', '1s'], ['no-check', 'inter', '2s'])).toEqual(['inter', '2s']);
  });
});

describe('a server renamed at the same address', () => {
  it('keeps serving under its new name instead of earning its traffic again', async () => {
    const socket = fakeSocket([server('3397ba6c-0b1e-4c1a-9d7e-5f2a8c3e1b00', 1)]);
    const result = await applierOn(socket).apply({
      previous: config([server('3397ba6c-0b1e-4c1a-9d7e-5f2a8c3e1b00', 1)]),
      next: config([server('db1', 1)]),
      revision: '2',
    });
    expect(result.outcome).toBe('runtime');
    const add = socket.requests.find((r) => r.startsWith('add server'));
    expect(add).toBe('add server galera/db1 10.0.0.1:3306 weight 10 check port 9200 inter 1s; enable health galera/db1; enable server galera/db1');
  });

  it('earns its traffic when the server it replaces was not UP', async () => {
    const socket = fakeSocket([server('old', 1, { admin: 1 })]);
    await applierOn(socket).apply({ previous: config([server('old', 1)]), next: config([server('db1', 1)]), revision: '2' });
    const add = socket.requests.find((r) => r.startsWith('add server'));
    expect(add).toContain('set server galera/db1 health down');
  });
});

describe('set-addr', () => {
  it('moves a checked server at weight 0, marks it down, then gives its weight back, in one request', async () => {
    const socket = fakeSocket([server('a', 1), server('b', 2)]);
    const result = await applierOn(socket).apply({ previous: config([server('a', 1), server('b', 2)]), next: config([server('a', 1), server('b', 9)]), revision: '3' });
    expect(result.outcome).toBe('runtime');
    expect(socket.requests.filter((r) => r.startsWith('set server'))).toEqual([
      'set server galera/b weight 0; set server galera/b addr 10.0.0.9 port 3306; set server galera/b health down; set server galera/b weight 10',
    ]);
  });

  it('only moves an unchecked server', async () => {
    const socket = fakeSocket([server('a', 1)]);
    await applierOn(socket).apply({ previous: config([server('a', 1)], { backend: '' }), next: config([server('a', 9)], { backend: '' }), revision: '3' });
    expect(socket.requests.filter((r) => r.startsWith('set server'))).toEqual(['set server galera/a addr 10.0.0.9 port 3306']);
  });
});

describe('drains', () => {
  it('polls the sessions of every draining server with one show stat per tick', async () => {
    const kept = server('keep', 1);
    const removed = Array.from({ length: 20 }, (_, i) => server(`r${i}`, 10 + i, { scur: 1 }));
    const live = [kept, ...removed];
    const socket = fakeSocket(live);
    const applier = applierOn(socket);
    const result = await applier.apply({ previous: config([kept, ...removed]), next: config([kept]), revision: '4' });
    expect(result.outcome).toBe('runtime');
    expect(applier.draining()).toHaveLength(20);
    const polls = (): number => socket.requests.filter((r) => r === 'show stat -1 4 -1').length;
    const before = polls();
    while (polls() < before + 3) await new Promise((r) => setTimeout(r, 5));
    for (const s of removed) s.scur = 0;
    await applier.settleDrains();
    expect(applier.draining()).toEqual([]);
    expect(live.map((s) => s.name)).toEqual(['keep']);
    // 3 ticks with sessions, at most two more to see them at 0: not 20 per tick.
    expect(polls() - before).toBeLessThanOrEqual(5);
  });

  it('hurry ends a busy drain at once: sessions shut, server deleted', async () => {
    const live = [server('a', 1), server('b', 2, { scur: 3 })];
    const socket = fakeSocket(live);
    const applier = applierOn(socket);
    await applier.apply({ previous: config(live), next: config([live[0]!]), revision: '5' });
    expect(applier.draining()).toEqual(['galera/b']);
    applier.hurryDrains();
    await applier.settleDrains();
    expect(socket.requests).toContain('set server galera/b state maint; shutdown sessions server galera/b');
    expect(live.map((s) => s.name)).toEqual(['a']);
  });
});

describe('batched runtime ops', () => {
  it('sends every server change of a plan on one connection, one line per server', async () => {
    const socket = fakeSocket([server('a', 1)]);
    const added = Array.from({ length: 30 }, (_, i) => server(`n${i}`, 10 + i));
    const result = await applierOn(socket).apply({ previous: config([server('a', 1)]), next: config([server('a', 1), ...added]), revision: '6' });
    expect(result.outcome).toBe('runtime');
    expect(result.plan.decision).toMatch(/^runtime: 30 ops est\. \d+ ms [<=] reload est\./);
    expect(socket.requests.filter((r) => r.startsWith('add server'))).toHaveLength(30);
    // One batch (one connection), one line per server, each line every command of its server.
    expect(socket.batches).toHaveLength(1);
    expect(socket.batches[0]).toHaveLength(30);
    expect(socket.batches[0]!.every((line) => line.startsWith('add server'))).toBe(true);
  });

  it("falls back to a reload naming the refused server and HAProxy's words, the rest of the batch applied", async () => {
    const live = [server('a', 1)];
    const socket = fakeSocket(live, ['galera/n1']);
    const reloader = countingReloader();
    const added = [server('n0', 10), server('n1', 11), server('n2', 12)];
    const result = await applierOn(socket, reloader).apply({ previous: config(live), next: config([...live, ...added]), revision: '7' });
    expect(result.fellBackToReload).toBe(true);
    expect(reloader.reasons).toHaveLength(1);
    expect(reloader.reasons[0]).toContain('1 runtime change(s) refused: galera/n1: "add server galera/n1 ');
    expect(reloader.reasons[0]).toContain("'cookie' : unknown keyword.");
    // n2, after the refused line, was still sent.
    expect(socket.requests.some((r) => r.startsWith('add server galera/n2 '))).toBe(true);
  });
});
