import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { eventually, runCli, startCliDaemon, type CliDaemon, type LogEntry } from '../helpers/cli.js';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { expectAliveWithInspectorClosed } from '../helpers/signals.js';

// `watch --template` against real etcd and HAProxy: the template replaced by rename (sed -i, editors,
// configuration management) right after an in-place write, and the signals an operator or systemd sends.
// Nodes on loopback 127.0.0.101–102 (registered only).
const PREFIX = '/components/galera';

let dir: TempDir;
let etcd: EtcdServer;
let client: Etcd3;
let haproxy: RunningHaproxy;
let watcher: CliDaemon;
let configPath: string;
let templatePath: string;
let goodPath: string;
let good: string;
let statusUrl: string;

const backends = async (): Promise<string> => sendSocketCommand(join(dir.path, 'admin.sock'), 'show backend', { timeoutMs: 2000 });
const healthz = async (): Promise<number> => (await fetch(`${statusUrl}/healthz`)).status;
const after = (seen: number, pred: (e: LogEntry) => boolean) => (e: LogEntry) => watcher.logs.indexOf(e) >= seen && pred(e);

beforeAll(async () => {
  dir = await tempDir('galera-haproxy-template-');
  etcd = await startEtcd();
  client = etcd.client();
  configPath = join(dir.path, 'haproxy.cfg');
  templatePath = join(dir.path, 'my.njk');
  goodPath = join(dir.path, 'good.njk');
  good = await readFile(join(import.meta.dirname, '..', '..', 'templates', 'haproxy.cfg.njk'), 'utf8');
  await writeFile(goodPath, good);
  await copyFile(goodPath, templatePath);
  const statusPort = await freePort();
  statusUrl = `http://127.0.0.1:${statusPort}`;
  const common = [
    '--etcd-endpoints', etcd.endpoint,
    '--prefix', PREFIX,
    '--template', templatePath,
    '--set', `listen=127.0.0.1:${await freePort()}`,
    '--set', `stats_socket=${join(dir.path, 'admin.sock')}`,
    '--set', `server_state_file=${join(dir.path, 'server-state')}`,
    '--log-level', 'debug',
  ];
  await client.put(`${PREFIX}/a`).value('127.0.0.101');
  await client.put(`${PREFIX}/b`).value('127.0.0.102');
  const first = await runCli(['render', '--check', ...common]);
  expect(first.code, first.stderr).toBe(0);
  await writeFile(configPath, first.stdout);
  haproxy = await startHaproxy({ configPath, dir: dir.path });
  watcher = startCliDaemon([
    'watch', ...common,
    '--config', configPath,
    '--master-socket', haproxy.masterSocket,
    '--min-reload-interval', '0s',
    '--status-listen', `127.0.0.1:${statusPort}`,
  ]);
  await watcher.waitForLog((e) => e.msg === 'status endpoint listening');
  await watcher.waitForLog((e) => e.msg === 'sync noop' || e.msg === 'sync reload' || e.msg === 'sync runtime');
}, 60_000);

afterAll(async () => {
  await watcher?.stop('SIGKILL');
  await haproxy?.stop();
  client?.close();
  await etcd?.destroy();
  await dir?.remove();
});

describe('watch --template', () => {
  it('keeps noticing edits after the template is replaced by rename right after an in-place write', { timeout: 60_000 }, async () => {
    for (let round = 1; round <= 2; round += 1) {
      let seen = watcher.logs.length;
      await appendFile(templatePath, `# local edit ${round}\n`);
      await watcher.waitForLog(after(seen, (e) => e.msg === 'template changed; re-rendering'), 5_000);

      // `cp good my.njk; sed -i '$a ...' my.njk`: cp writes in place, sed renames a new file over it a
      // millisecond later (a file watch then follows the replaced inode).
      seen = watcher.logs.length;
      await copyFile(goodPath, templatePath);
      const sedTemp = join(dir.path, `sed${round}`);
      await writeFile(sedTemp, `${good}    this-is-not-a-directive\n`);
      await rename(sedTemp, templatePath);
      await watcher.waitForLog(after(seen, (e) => e.outcome === 'failed' && String(e.reason).includes('haproxy -c')), 10_000);
      await eventually('/healthz 503', async () => ((await healthz()) === 503 ? true : undefined));
      expect(await readFile(configPath, 'utf8')).not.toContain('this-is-not-a-directive');

      seen = watcher.logs.length;
      await copyFile(goodPath, templatePath);
      await watcher.waitForLog(after(seen, (e) => e.msg === 'template changed; re-rendering'), 5_000);
      await eventually('/healthz 200', async () => ((await healthz()) === 200 ? true : undefined), 5_000);
    }

    const seen = watcher.logs.length;
    await appendFile(templatePath, '\nbackend probe_appended\n    mode tcp\n');
    await watcher.waitForLog(after(seen, (e) => e.msg === 'template changed; re-rendering'), 5_000);
    await eventually('HAProxy runs backend probe_appended', async () => (/^probe_appended$/m.test(await backends()) ? true : undefined), 5_000);
    expect(await readFile(configPath, 'utf8')).toMatch(/^backend probe_appended$/m);
  });

  it('never opens the inspector on SIGUSR1, and says so', async () => {
    await expectAliveWithInspectorClosed(watcher);
    expect(await healthz()).toBe(200);
  });

  it('logs a status line on SIGUSR2 and keeps running', async () => {
    const seen = watcher.logs.length;
    watcher.child.kill('SIGUSR2');
    const line = await watcher.waitForLog(after(seen, (e) => e.msg === 'status' && e.signal === 'SIGUSR2'), 5_000);
    expect(line.nodes).toEqual({ valid: 2, rejected: 0, incomplete: 0 });
    expect(line.etcdConnected).toBe(true);
    expect((line.lastPass as { outcome?: string }).outcome).toMatch(/^(noop|runtime|reload)$/);
    expect(watcher.child.exitCode).toBeNull();
    expect(await healthz()).toBe(200);
  });

  it('reads the template again on SIGHUP (an include it does not watch) and runs a pass', { timeout: 60_000 }, async () => {
    await writeFile(join(dir.path, 'extra.njk'), '\n');
    let seen = watcher.logs.length;
    await writeFile(templatePath, `${good}{% include "extra.njk" %}\n`);
    await watcher.waitForLog(after(seen, (e) => e.msg === 'template changed; re-rendering'), 5_000);
    await watcher.waitForLog(after(seen, (e) => typeof e.outcome === 'string'), 5_000);

    await writeFile(join(dir.path, 'extra.njk'), '\nbackend probe_hup\n    mode tcp\n');
    seen = watcher.logs.length;
    watcher.child.kill('SIGHUP');
    await watcher.waitForLog(after(seen, (e) => e.msg === 'template read again on SIGHUP; re-rendering' && e.why === 'SIGHUP'), 5_000);
    await eventually('HAProxy runs backend probe_hup', async () => (/^probe_hup$/m.test(await backends()) ? true : undefined), 5_000);
    expect(await readFile(configPath, 'utf8')).toMatch(/^backend probe_hup$/m);
    expect(watcher.child.exitCode).toBeNull();
    expect(await watcher.stop()).toBe(0);
  });
});
