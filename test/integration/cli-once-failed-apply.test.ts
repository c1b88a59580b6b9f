import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, type LogEntry } from '../helpers/cli.js';
import { unconfirmedPath } from '../../src/daemon/live-config.js';

// `once` where there is no haproxy.cfg yet and the apply fails: no HAProxy runs behind the sockets (the
// master socket is not there yet, which start-up accepts with a warning, as in a sidecar whose HAProxy
// starts later), so nothing can confirm a reload. `--help` promises the live file is untouched on failure; with no file
// before, that means no file after, and a retry must apply the render again rather than find it on disk.
// Nodes on loopback 127.0.0.101–102 (only registered, never connected to).
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let configPath: string;
let args: string[];

const parseLines = (stderr: string): LogEntry[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEntry);

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-once-failed-');
  etcd = await startEtcd();
  client = etcd.client();
  configPath = join(dir.path, 'haproxy.cfg');
  const absentSocket = join(dir.path, 'master.sock');
  args = [
    'once',
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--set', `listen=127.0.0.1:${await freePort()}`,
    '--set', `stats_socket=${join(dir.path, 'admin.sock')}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--config', configPath,
    '--master-socket', absentSocket,
  ];
  await client.put(`${PREFIX}/a`).value('127.0.0.101');
  await client.put(`${PREFIX}/b`).value('127.0.0.102');
}, 60_000);

afterAll(async () => {
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('once with no previous config whose apply fails', () => {
  it('leaves no file behind, and the retry applies again and fails instead of exiting 0', async () => {
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(1);
    const failed = parseLines(first.stderr).find((e) => e.outcome === 'failed');
    expect(String(failed?.reason)).toMatch(/^apply: /);
    expect(existsSync(configPath)).toBe(false);
    expect(existsSync(unconfirmedPath(configPath))).toBe(false);
    expect(await readdir(dir.path)).toEqual([]);

    const retry = await runCli(args);
    expect(retry.code, retry.stderr).toBe(1);
    const lines = parseLines(retry.stderr);
    expect(lines.some((e) => e.outcome === 'noop')).toBe(false);
    expect(String(lines.find((e) => e.outcome === 'failed')?.reason)).toMatch(/^apply: /);
    expect(existsSync(configPath)).toBe(false);
  });
});
