import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, commitStaged } from '../../src/check/haproxy-check.js';
import { decodeCluster } from '../../src/model/decode-cluster.js';
import { writeFileAtomic } from '../../src/render/atomic-write.js';
import { createRenderer } from '../../src/render/render-config.js';

const HAPROXY = process.env['HAPROXY_BIN'] ?? 'haproxy';
const PREFIX = '/components/galera';
let dir = '';
const children: ResultPromise[] = [];

beforeAll(async () => {
  const probe = await execa(HAPROXY, ['-v'], { reject: false });
  if (probe.exitCode !== 0) {
    throw new Error(`haproxy is required for this test and was not found as ${JSON.stringify(HAPROXY)}: apt-get install haproxy`);
  }
  dir = mkdtempSync(path.join(tmpdir(), 'gh-write-'));
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function hiddenFiles(): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('.'));
}

describe('writeFileAtomic', () => {
  it('creates a new file with the given mode, then writes only when the bytes change', async () => {
    const target = path.join(dir, 'a.cfg');
    expect(await writeFileAtomic(target, 'one\n', { mode: 0o600 })).toEqual({ didWrite: true });
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const before = statSync(target);

    expect(await writeFileAtomic(target, 'one\n')).toEqual({ didWrite: false });
    const same = statSync(target);
    expect([same.ino, same.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    chmodSync(target, 0o640);
    expect(await writeFileAtomic(target, 'two\n', { mode: 0o600 })).toEqual({ didWrite: true });
    const after = statSync(target);
    expect(readFileSync(target, 'utf8')).toBe('two\n');
    // The existing mode wins over the option, and the inode changed: it was a rename, not an overwrite.
    expect(after.mode & 0o777).toBe(0o640);
    expect(after.ino).not.toBe(before.ino);
    expect(hiddenFiles()).toEqual([]);
  });

  it('fails with context when the directory does not exist', async () => {
    await expect(writeFileAtomic(path.join(dir, 'missing', 'x.cfg'), 'x')).rejects.toMatchObject({
      code: 'WRITE_FAILED',
      message: expect.stringMatching(/cannot create .*missing/),
    });
  });

  it('a reader in another process only ever sees the old or the new full content', async () => {
    const target = path.join(dir, 'atomic.cfg');
    const stopFile = path.join(dir, 'stop');
    // Large, distinct contents: a torn or partial read would match neither.
    const contents = ['A', 'B'].map((c) => `${c.repeat(1 << 20)}\n`);
    writeFileSync(target, contents[0] ?? '');
    const reader = execa(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs');
         const [target, stop, a, b] = process.argv.slice(1);
         const ok = new Set([a, b].map((c) => c.repeat(1 << 20) + '\\n'));
         let reads = 0, bad = 0; const deadline = Date.now() + 20000;
         while (!fs.existsSync(stop) && Date.now() < deadline) {
           const text = fs.readFileSync(target, 'utf8'); reads++;
           if (!ok.has(text)) bad++;
         }
         process.stdout.write(JSON.stringify({ reads, bad }));`,
        target,
        stopFile,
        'A',
        'B',
      ],
      { reject: false },
    );
    children.push(reader);
    const writes = 200;
    for (let i = 0; i < writes; i++) {
      const result = await writeFileAtomic(target, contents[(i + 1) % 2] ?? '');
      expect(result.didWrite).toBe(true);
    }
    writeFileSync(stopFile, '');
    const done = await reader;
    const { reads, bad } = JSON.parse(done.stdout) as { reads: number; bad: number };
    console.log(`atomicity: ${writes} writes, ${reads} concurrent reads, ${bad} torn`);
    expect(reads).toBeGreaterThan(0);
    expect(bad).toBe(0);
    expect(hiddenFiles()).toEqual([]);
  });
});

describe('render, check, commit', () => {
  it('renders, checks the staged copy, commits; an unchanged render writes nothing', async () => {
    const target = path.join(dir, 'haproxy.cfg');
    writeFileSync(target, '# old\n');
    const renderer = createRenderer({
      vars: { stats_socket: path.join(dir, 'admin.sock'), server_state_file: path.join(dir, 'state') },
    });
    const state = decodeCluster(PREFIX, [
      { key: `${PREFIX}/db1/ip`, value: '127.0.0.11' },
      { key: `${PREFIX}/db2`, value: '[::1]:3307' },
    ]);
    const text = renderer.render(state, { revision: '5' });
    const check = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(check.ok).toBe(true);
    await commitStaged(check.stagedPath, target);
    expect(readFileSync(target, 'utf8')).toBe(text);
    expect(await writeFileAtomic(target, renderer.render(state, { revision: '5' }))).toEqual({ didWrite: false });
  });

  it('a render HAProxy rejects never reaches the target', async () => {
    const target = path.join(dir, 'guarded.cfg');
    const good = '# last good config\n';
    writeFileSync(target, good);
    const renderer = createRenderer({ vars: { maxconn: '100' } });
    const text = renderer.render(decodeCluster(PREFIX, []), { revision: '6' }).replace('balance leastconn', 'balance nonsense');
    const check = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(check.ok).toBe(false);
    expect(check.diagnostics).toContainEqual(
      expect.objectContaining({ level: 'alert', source: 'balance nonsense', message: expect.stringMatching(/^balance only supports/) }),
    );
    expect(readFileSync(target, 'utf8')).toBe(good);
    expect(hiddenFiles()).toEqual([]);
  });
});
