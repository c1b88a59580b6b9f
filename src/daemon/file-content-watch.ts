import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { describeError } from '../errors.js';
import type { Logger } from '../observe/logger.js';

export interface FileContentWatch {
  /** Looks at the file now; resolves true when its content changed since the last look. */
  check(): Promise<boolean>;
  close(): Promise<void>;
}

export interface FileContentWatchOptions {
  readonly path: string;
  /** Called once per content change (not per event): the file holds new bytes. */
  readonly onChange: () => void;
  /** The periodic look that catches what file system events miss. */
  readonly intervalMs: number;
  /** Quiet time after the last event before looking, so a write in several chunks is read once. */
  readonly settleMs: number;
  readonly logger: Logger;
}

/** What a stat says of the file; the content is hashed only when this changes. Null: the file is absent. */
async function fingerprintOf(path: string): Promise<string | null> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function hashOf(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/**
 * Follows the content of one file whichever way it is replaced. Editors, `sed -i` and configuration
 * management replace a file by renaming a new one over it; a watch on the file itself then follows the
 * old inode and goes deaf. So the directory is watched (a rename into it is an event there), any event in
 * it only schedules a look, and a periodic look (a stat; a hash when the stat changed) catches whatever
 * the events miss: a watch that failed, a symlink swapped elsewhere (Kubernetes ConfigMaps), a lost event.
 */
export async function watchFileContent(options: FileContentWatchOptions): Promise<FileContentWatch> {
  const { path, logger } = options;
  let fingerprint = await fingerprintOf(path);
  let hash = fingerprint === null ? null : await hashOf(path);
  let looking: Promise<boolean> | null = null;
  let lookAgain = false;
  let settleTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const look = async (): Promise<boolean> => {
    const seen = await fingerprintOf(path);
    if (seen === fingerprint) return false;
    // A file written in place (truncated, then filled) must not be read between the two: a change counts
    // once the stat held still for the settle time. An empty or half file would otherwise be taken as
    // the new content (an empty config file is valid: no settings).
    await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    if ((await fingerprintOf(path)) !== seen) {
      onEvent();
      return false;
    }
    // The stat is taken before the read: a write racing the read changes the stat again, so the next
    // look reads once more instead of keeping the hash of a half-written file.
    fingerprint = seen;
    const next = seen === null ? null : await hashOf(path);
    if (next === hash) return false;
    hash = next;
    // A file that vanished is not a new template: wait for the one that takes its place.
    if (next === null) return false;
    options.onChange();
    return true;
  };

  const check = (): Promise<boolean> => {
    if (looking !== null) {
      lookAgain = true;
      return looking;
    }
    looking = look()
      .catch((err: unknown) => {
        logger.warn({ file: path, err: describeError(err) }, 'cannot look at the watched file; trying again later');
        return false;
      })
      .finally(() => {
        looking = null;
        if (lookAgain && !closed) {
          lookAgain = false;
          void check();
        }
      });
    return looking;
  };

  const onEvent = (): void => {
    if (closed) return;
    if (settleTimer !== null) clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      settleTimer = null;
      void check();
    }, options.settleMs);
  };

  let dirWatch: FSWatcher | null = null;
  try {
    dirWatch = watch(dirname(path), { persistent: false }, onEvent);
    dirWatch.on('error', (err) => {
      logger.warn({ file: path, err: describeError(err) }, `the watch on the directory of ${basename(path)} failed; looking every ${options.intervalMs} ms only`);
      dirWatch?.close();
      dirWatch = null;
    });
  } catch (err) {
    logger.warn({ file: path, err: describeError(err) }, `cannot watch the directory of ${basename(path)}; looking every ${options.intervalMs} ms only`);
  }
  const poll = setInterval(() => void check(), options.intervalMs);
  poll.unref();

  return {
    check,
    async close() {
      closed = true;
      clearInterval(poll);
      if (settleTimer !== null) clearTimeout(settleTimer);
      dirWatch?.close();
      await looking;
    },
  };
}
