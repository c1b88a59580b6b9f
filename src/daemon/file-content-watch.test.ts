import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../observe/logger.js';
import { watchFileContent, type FileContentWatch } from './file-content-watch.js';

let dir: string | null = null;
let watcher: FileContentWatch | null = null;

afterEach(async () => {
  await watcher?.close();
  watcher = null;
  if (dir !== null) await rm(dir, { recursive: true, force: true });
  dir = null;
});

/** Starts a watch on `path` and counts the changes it reports; `next()` resolves on the next one. */
async function changes(path: string, intervalMs: number): Promise<{ count: () => number; next: () => Promise<void> }> {
  let count = 0;
  let wake: (() => void) | null = null;
  watcher = await watchFileContent({
    path,
    intervalMs,
    settleMs: 20,
    logger: silentLogger(),
    onChange: () => {
      count += 1;
      wake?.();
    },
  });
  return {
    count: () => count,
    next: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no change seen in ${path}`)), 3_000);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
      }),
  };
}

describe('watchFileContent', () => {
  it('sees edits after the file is replaced by rename right after an in-place write, and not a write of the same bytes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-content-watch-'));
    const file = join(dir, 'my.njk');
    await writeFile(file, 'one\n');
    // The periodic look is out of the way: the directory's events alone must carry these.
    const seen = await changes(file, 60_000);
    let next = seen.next();
    await writeFile(file, 'two\n');
    await writeFile(join(dir, 'sed1'), 'three\n');
    await rename(join(dir, 'sed1'), file);
    await next;
    next = seen.next();
    await writeFile(file, 'four\n');
    await next;
    const before = seen.count();
    await writeFile(file, 'four\n');
    expect(await watcher!.check()).toBe(false);
    expect(seen.count()).toBe(before);
  });

  it('catches by its periodic look a change no event in the directory reports (a symlink to a file elsewhere)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-content-watch-'));
    await mkdir(join(dir, 'data'));
    await mkdir(join(dir, 'conf'));
    await writeFile(join(dir, 'data', 'my.njk'), 'one\n');
    const link = join(dir, 'conf', 'my.njk');
    await symlink(join(dir, 'data', 'my.njk'), link);
    const seen = await changes(link, 50);
    const next = seen.next();
    await writeFile(join(dir, 'data', 'my.njk'), 'two\n');
    await next;
    expect(seen.count()).toBe(1);
  });

  it('does not report a file caught between its truncation and its new content', async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-content-watch-'));
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'old: 1\n');
    const reads: string[] = [];
    watcher = await watchFileContent({ path: file, intervalMs: 60_000, settleMs: 150, logger: silentLogger(), onChange: () => reads.push(readFileSync(file, 'utf8')) });
    // An in-place write in two steps, looked at in between (as the periodic look may).
    const handle = await open(file, 'r+');
    await handle.truncate(0);
    const look = watcher.check();
    await new Promise((r) => setTimeout(r, 50));
    await handle.write('new: 2\n', 0);
    await handle.close();
    await look;
    await new Promise((r) => setTimeout(r, 500));
    expect(reads).toEqual(['new: 2\n']);
  });
});
