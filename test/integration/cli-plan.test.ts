import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startFakeGaleraNode, type FakeGaleraNode } from '../helpers/fake-galera.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, type LogEntry } from '../helpers/cli.js';
import { runtimeServers, showProc, waitFor } from '../helpers/runtime.js';
import type { PlanReport } from '../../src/cli/plan-command.js';

// render, plan and once over one etcd state: the config render prints is the file once writes, and the
// operations plan announces are the ones once carries out. Fake Galera nodes on 127.0.0.241-.244.
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
const nodes: FakeGaleraNode[] = [];
let statsSocket: string;
let configPath: string;
let sets: string[];
let applyFlags: string[];

const logsOf = (stderr: string): LogEntry[] =>
  stderr.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as LogEntry];
    } catch {
      return [];
    }
  });

/** The body of a config without its header (the header names the revision and the origin). */
const body = (config: string): string => config.split('\n').filter((line) => !line.startsWith('#')).join('\n');

async function plan(extra: string[] = []): Promise<{ code: number | null; report: PlanReport; stderr: string }> {
  const r = await runCli(['plan', ...sets, ...extra, ...applyFlags, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as PlanReport, stderr: r.stderr };
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-plan-');
  etcd = await startEtcd();
  client = etcd.client();
  for (const ip of ['127.0.0.241', '127.0.0.242', '127.0.0.243', '127.0.0.244']) nodes.push(await startFakeGaleraNode({ ip }));
  statsSocket = join(dir.path, 'admin.sock');
  configPath = join(dir.path, 'haproxy.cfg');
  sets = [
    '--etcd-endpoints', etcd.endpoint, '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`, '--set', `stats_socket=${statsSocket}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`, '--set', 'check_inter=200ms',
  ];
  for (const [name, ip] of [['a', '127.0.0.241'], ['b', '127.0.0.242']] as const) await client.put(`${PREFIX}/${name}`).value(ip);
  const first = await runCli(['render', '--check', ...sets]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  applyFlags = ['--config', configPath, '--stats-socket', statsSocket, '--master-socket', haproxy.masterSocket, '--min-reload-interval', '0', '--drain-timeout', '1s'];
  await waitFor('a and b UP', async () => (await runtimeServers(statsSocket, 'galera')).filter((s) => s.operState === 2).length === 2);
});

afterAll(async () => {
  await haproxy?.stop();
  await Promise.all(nodes.map((n) => n.close()));
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('render, plan and once decide alike', () => {
  it('nothing to do: plan exits 0 and says so', async () => {
    const { code, report } = await plan();
    expect(code).toBe(0);
    expect(report).toMatchObject({ changes: false, file: false, reload: false, reasons: [] });
  });

  it('server changes: plan lists the runtime ops once then carries out, and render prints the file once writes', async () => {
    await client.delete().key(`${PREFIX}/b`);
    await client.put(`${PREFIX}/c`).value('127.0.0.243');
    await client.put(`${PREFIX}/a`).value('{"ip": "127.0.0.241", "weight": 7}');
    const rendered = await runCli(['render', ...sets]);
    expect(rendered.code, rendered.stderr).toBe(0);

    const planned = await plan();
    expect(planned.code).toBe(1);
    expect(planned.report).toMatchObject({ changes: true, file: true, reload: false });
    const announced = planned.report.services.flatMap((s) => s.ops.map((op) => `${op.op} ${s.name}/${op.server}`)).sort();
    expect(announced).toEqual(['add galera/c', 'remove galera/b', 'set-weight galera/a']);
    // Why the Runtime API and not a reload: both estimates, as the daemon decides.
    expect(planned.report.decision).toMatch(/^runtime: 3 ops est\. .+ < reload est\. /);
    // plan changed nothing.
    expect((await runtimeServers(statsSocket, 'galera')).map((s) => s.name).sort()).toEqual(['a', 'b']);

    const reloads = (await showProc(haproxy.masterSocket)).reloads;
    const once = await runCli(['once', ...sets, ...applyFlags, '--log-level', 'debug']);
    expect(once.code, once.stderr).toBe(0);
    const carried = logsOf(once.stderr).filter((e) => e.msg === 'runtime op applied').map((e) => `${String(e['op'])} ${String(e['server'])}`).sort();
    expect(carried).toEqual(announced);
    expect((await showProc(haproxy.masterSocket)).reloads).toBe(reloads);
    expect(body(await readFile(configPath, 'utf8'))).toBe(body(rendered.stdout));

    const after = await plan();
    expect(after.code).toBe(0);
    expect(after.report.changes).toBe(false);
  });

  it('a structural change: plan names the reload and its reasons, and once reloads for the same reasons', async () => {
    const more = ['--set', 'maxconn=2000'];
    const rendered = await runCli(['render', ...sets, ...more]);
    const planned = await plan(more);
    expect(planned.code).toBe(1);
    expect(planned.report.reload).toBe(true);
    expect(planned.report.reasons.join('\n')).toMatch(/config structure changed: .*maxconn 4096.*maxconn 2000/);
    const once = await runCli(['once', ...sets, ...more, ...applyFlags]);
    expect(once.code, once.stderr).toBe(0);
    const reloading = logsOf(once.stderr).find((e) => e.msg === 'reloading HAProxy');
    expect(reloading?.['reasons']).toEqual(planned.report.reasons);
    expect(body(await readFile(configPath, 'utf8'))).toBe(body(rendered.stdout));
    expect((await plan(more)).code).toBe(0);
  });

  it('a guard that holds: all three refuse alike with exit 3', async () => {
    const strict = ['--min-servers', '5', '--set', 'maxconn=2000'];
    const [r, p, o] = await Promise.all([runCli(['render', ...sets, ...strict]), runCli(['plan', ...sets, ...strict, ...applyFlags]), runCli(['once', ...sets, ...strict, ...applyFlags])]);
    for (const x of [r, p, o]) {
      expect(x.code, x.stderr).toBe(3);
      expect(x.stderr).toMatch(/2 valid node\(s\) under \/components\/galera, fewer than --min-servers 5/);
    }
  });
});
