import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { showProc } from '../helpers/runtime.js';

// A daemon killed between the rename of a new haproxy.cfg and the confirmed reload of it. The window is
// opened the way it opens in production: a second reload waits for --min-reload-interval after the file
// is already in place, and the daemon is killed -9 while it waits. Nodes on loopback 127.0.0.91–92.
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon | null = null;
let configPath: string;
let templatePath: string;
let bundled: string;
let common: string[];

const backends = async (): Promise<string> => sendSocketCommand(join(dir.path, 'admin.sock'), 'show backend', { timeoutMs: 2000 });
const withProbe = (name: string): string => `${bundled}\nbackend ${name}\n    mode tcp\n`;
const parseLines = (stderr: string): LogEntry[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEntry);

/** Writes the template until the daemon says it re-renders (its file watcher may not be ready at start). */
async function changeTemplate(daemon: CliDaemon, text: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    const seen = daemon.logs.length;
    await writeFile(templatePath, text);
    try {
      await daemon.waitForLog((e) => daemon.logs.indexOf(e) >= seen && e.msg === 'template changed; re-rendering', 2000);
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-unconfirmed-');
  etcd = await startEtcd();
  client = etcd.client();
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'custom.cfg.njk');
  bundled = await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8');
  await writeFile(templatePath, bundled);
  common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--template', templatePath,
    '--set', `listen=127.0.0.1:${await freePort()}`,
    '--set', `stats_socket=${join(dir.path, 'admin.sock')}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--config', configPath,
    '--log-level', 'debug',
  ];
  await client.put(`${PREFIX}/a`).value('127.0.0.91');
  await client.put(`${PREFIX}/b`).value('127.0.0.92');
  const first = await runCli(['render', '--check', ...common.filter((a) => a !== '--config' && a !== configPath)]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  common.push('--master-socket', haproxy.masterSocket);
}, 60_000);

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('a write whose reload was never confirmed', () => {
  it('is reloaded by the next start, and only once', { timeout: 90_000 }, async () => {
    watcher = startCliDaemon(['watch', ...common, '--min-reload-interval', '60s', '--repair-interval', '0s']);
    await watcher.waitForLog((e) => e.msg === 'watching etcd');
    await changeTemplate(watcher, withProbe('probe_one'));
    await watcher.waitForLog((e) => e.msg === 'reload confirmed');
    expect(await backends()).toMatch(/^probe_one$/m);

    // The second reload waits for the minimum gap with the new file already renamed into place.
    await changeTemplate(watcher, withProbe('probe_two'));
    await watcher.waitForLog((e) => e.msg === 'waiting for the minimum gap between reloads');
    await watcher.stop('SIGKILL');
    watcher = null;
    expect(await readFile(configPath, 'utf8')).toMatch(/^backend probe_two$/m);
    expect(await backends()).not.toMatch(/^probe_two$/m);
    const before = await showProc(haproxy.masterSocket);

    const once = await runCli(['once', ...common]);
    expect(once.code, once.stderr).toBe(0);
    expect(await backends()).toMatch(/^probe_two$/m);
    const after = await showProc(haproxy.masterSocket);
    expect(after.reloads).toBe(before.reloads + 1);
    expect(after.workers.some((pid) => !before.workers.includes(pid))).toBe(true);
    const lines = parseLines(once.stderr);
    expect(lines.some((e) => e.msg.includes('never confirmed running'))).toBe(true);
    const reload = lines.find((e) => e.msg === 'reloading HAProxy');
    expect(String(reload?.reasons)).toMatch(/config structure changed.*probe_two/);

    // Confirmed now: the next start finds nothing to do.
    const again = await runCli(['once', ...common]);
    expect(again.code, again.stderr).toBe(0);
    expect((await showProc(haproxy.masterSocket)).reloads).toBe(after.reloads);
  });
});
