import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir, type TempDir } from '../helpers/ports.js';
import { runCli, startCliDaemon } from '../helpers/cli.js';

/**
 * Flags naming a path or an address that cannot work are bad flags: exit 2 at once, one line naming the
 * flag and the cause, before etcd is contacted. No etcd runs here: the endpoint is a closed port, so a
 * command that got as far as etcd would exit 4 (or, for watch, retry until killed).
 */
const PREFIX = '/components/galera';
let dir: TempDir;
let deadEtcd: string;
let nodesFile: string;

/** The line the CLI printed on stderr, after checking it printed exactly one. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines, stderr).toHaveLength(1);
  return lines[0] ?? '';
}

beforeAll(async () => {
  dir = await tempDir('cli-start-checks');
  deadEtcd = `http://127.0.0.121:${await freePort('127.0.0.121')}`;
  nodesFile = join(dir.path, 'nodes.json');
  await writeFile(nodesFile, JSON.stringify({ [`${PREFIX}/a/ip`]: '127.0.0.122' }));
});

afterAll(async () => {
  await dir?.remove();
});

const applyArgs = (): string[] => ['--etcd-endpoints', deadEtcd, '--reload-cmd', 'true', '--log-level', 'warn'];

describe('paths named by flags', () => {
  it('a missing --template is exit 2 naming the flag', async () => {
    const r = await runCli(['render', '--nodes', nodesFile, '--template', '/nonexistent']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('galera-haproxy: --template /nonexistent: file /nonexistent does not exist');
  });

  it('a --config in a missing directory is exit 2 for once and watch, before etcd', async () => {
    for (const command of ['once', 'watch']) {
      const r = await runCli([command, ...applyArgs(), '--config', '/nope/haproxy.cfg'], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr)).toBe('galera-haproxy: --config /nope/haproxy.cfg: directory /nope does not exist');
    }
  });

  it('a --config directory the daemon cannot write is exit 2 with the cause', async () => {
    const readOnly = join(dir.path, 'ro');
    await mkdir(readOnly);
    // Root may write anywhere the mode bits forbid, but not into an immutable directory (EPERM). Running
    // as another user instead would need every parent of this checkout to be open to that user.
    const immutable = spawnSync('chattr', ['+i', readOnly], { encoding: 'utf8' });
    expect(immutable.status, `chattr +i (apt-get install e2fsprogs): ${immutable.stderr}`).toBe(0);
    try {
      const r = await runCli(['once', ...applyArgs(), '--config', join(readOnly, 'haproxy.cfg')]);
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr)).toMatch(new RegExp(`^galera-haproxy: --config ${readOnly}/haproxy.cfg: directory ${readOnly} is not writable \\(permission denied\\)`));
    } finally {
      spawnSync('chattr', ['-i', readOnly]);
    }
  });

  it('a --master-socket that exists and is no socket is exit 2 saying what it is', async () => {
    const file = join(dir.path, 'master.sock');
    await writeFile(file, '');
    const config = join(dir.path, 'haproxy.cfg');
    const r = await runCli(['once', '--etcd-endpoints', deadEtcd, '--config', config, '--master-socket', file]);
    expect(r.code, r.stderr).toBe(2);
    expect(oneLine(r.stderr)).toBe(`galera-haproxy: --master-socket ${file}: is a regular file, not a socket`);
    const d = await runCli(['once', '--etcd-endpoints', deadEtcd, '--config', config, '--master-socket', dir.path]);
    expect(d.code, d.stderr).toBe(2);
    expect(oneLine(d.stderr)).toBe(`galera-haproxy: --master-socket ${dir.path}: is a directory, not a socket`);
  });

  it('a --master-socket that does not exist yet is accepted with a warning: HAProxy may start later', async () => {
    const missing = join(dir.path, 'not-yet.sock');
    const r = await runCli(['once', '--etcd-endpoints', deadEtcd, '--config', join(dir.path, 'haproxy.cfg'), '--master-socket', missing, '--log-level', 'warn'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(4);
    const warning = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; masterSocket?: string })
      .find((e) => e.masterSocket === missing);
    expect(warning?.msg).toMatch(/does not exist yet/);
  });

  it('once and watch without a way to reload name both flags', async () => {
    for (const command of ['once', 'watch']) {
      const r = await runCli([command, '--etcd-endpoints', deadEtcd, '--config', join(dir.path, 'haproxy.cfg')], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/needs --master-socket <path> .* or --reload-cmd <argv>/);
    }
  });
});

describe('--status-listen', () => {
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen({ host: '127.0.0.123', port: 0 }, resolve));
    busyPort = (busy.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  });

  it('a malformed address, a port out of range or a port in use is exit 2 naming the flag', async () => {
    const cases: [string, RegExp][] = [
      ['notanaddr', /^galera-haproxy: --status-listen "notanaddr": expected host:port/],
      ['127.0.0.1:99999', /^galera-haproxy: --status-listen 127\.0\.0\.1:99999: port 99999 is out of range/],
      [`127.0.0.123:${busyPort}`, /^galera-haproxy: --status-listen 127\.0\.0\.123:\d+: cannot listen: address already in use$/],
    ];
    for (const [listen, expected] of cases) {
      const r = await runCli(['watch', ...applyArgs(), '--config', join(dir.path, 'haproxy.cfg'), '--status-listen', listen], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(oneLine(r.stderr)).toMatch(expected);
    }
  });
});

describe('messages', () => {
  it('a template syntax error is one line: file:line:col and the message once', async () => {
    const template = join(dir.path, 'broken.njk');
    await writeFile(template, 'global\n  maxconn 1\n{% if %}\n');
    const r = await runCli(['render', '--nodes', nodesFile, '--template', template]);
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toBe(`galera-haproxy: template ${template}:3:7: unexpected token: %}`);
  });

  it('a --nodes file with every key outside the prefix says they were ignored and why', async () => {
    const other = join(dir.path, 'other.json');
    await writeFile(other, JSON.stringify({ '/galera/a/ip': '127.0.0.124', '/galera/b/ip': '127.0.0.125' }));
    const r = await runCli(['render', '--nodes', other, '--log-level', 'error']);
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toBe(
      `galera-haproxy: 0 valid node(s) under ${PREFIX}, fewer than --min-servers 1: 2 of 2 key(s) in --nodes ${other} are outside --prefix ${PREFIX} and were ignored (e.g. "/galera/a/ip")`,
    );
  });

  it('render --nodes says in the header that the nodes came from that file', async () => {
    const r = await runCli(['render', '--nodes', nodesFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`# Generated by galera-haproxy from nodes file ${nodesFile}.`);
  });

  it('--check-timeout 0 is a bad flag', async () => {
    const r = await runCli(['render', '--nodes', nodesFile, '--check-timeout', '0']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('galera-haproxy: --check-timeout 0 must be longer than 0');
  });

  it('watch --stale-after 0 is a bad flag: /healthz could never say 200', async () => {
    const r = await runCli(['watch', '--stale-after', '0', '--reload-cmd', 'true', '--etcd-endpoints', 'http://127.0.0.121:9']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('galera-haproxy: --stale-after 0 must be longer than 0');
  });

  it('watch --help says one of --master-socket and --reload-cmd is required, and shows the three uses', async () => {
    const r = await runCli(['watch', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--master-socket <path> .*\(this or --reload-cmd is required\)/);
    expect(help).toMatch(/--reload-cmd <argv> .*\(this or --master-socket is required\)/);
    expect(help).toContain('galera-haproxy watch --master-socket /run/haproxy/master.sock');
    expect(help).toContain('/opt/bin/galera-haproxy watch');
    expect(help).toContain('galera-haproxy render --nodes nodes.json --check');
    const top = await runCli(['--help']);
    expect(top.stdout).toContain('galera-haproxy render --nodes nodes.json --check');
  });

  it.each([
    [['--max-recv-queue', '0'], '--max-recv-queue must be an integer 1-1000000000, got "0"'],
    [['--rise', 'often'], '--rise must be an integer 1-1000, got "often"'],
  ])('clustercheck %j is exit 2 naming the flag', async (args, message) => {
    const port = await freePort('127.0.0.126');
    const r = await runCli(['clustercheck', '--listen', `127.0.0.126:${port}`, '--mysql-host', '127.0.0.126', ...args]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain(message);
  });

  it('clustercheck takes durations for --query-timeout and --cache-ms', async () => {
    const port = await freePort('127.0.0.126');
    const daemon = startCliDaemon(['clustercheck', '--listen', `127.0.0.126:${port}`, '--mysql-host', '127.0.0.126', '--query-timeout', '2s', '--cache-ms', '100ms']);
    try {
      const entry = await daemon.waitForLog((e) => e.msg === 'clustercheck listening');
      expect(entry['port']).toBe(port);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
