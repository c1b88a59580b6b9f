import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { GaleraHaproxyError } from '../errors.js';

// The one atomic writer. In render/, which owns the config file; check/, apply/, config/ and daemon/ import it.

/** Mode for a file that does not exist yet: readable by HAProxy running as another user. */
export const DEFAULT_MODE = 0o644;

export interface WriteResult {
  /** False when the file already held exactly these bytes (nothing was touched, not even mtime). */
  readonly didWrite: boolean;
}

/**
 * Writes `content` to `target` only when the bytes differ, so a no-op render never wakes a file watcher
 * or a reload. The new content goes to a temp file in the same directory (rename is atomic only within
 * one file system), is fsynced, takes the mode of the file it replaces, and is renamed over it; then the
 * directory is fsynced so the rename itself survives a power cut. Readers see the old or the new file,
 * never a mix.
 */
export async function writeFileAtomic(target: string, content: string, options: { mode?: number } = {}): Promise<WriteResult> {
  const bytes = Buffer.from(content, 'utf8');
  const existing = await readIfExists(target);
  if (existing !== null && existing.equals(bytes)) return { didWrite: false };
  const mode = (await modeOf(target)) ?? options.mode ?? DEFAULT_MODE;
  const temp = await writeTemp(target, bytes, mode, 'tmp');
  try {
    await renameDurably(temp, target);
  } catch (err) {
    await unlinkQuietly(temp);
    throw err;
  }
  return { didWrite: true };
}

/** A unique name beside `target`, hidden so globs such as `*.cfg` do not pick it up. */
export function siblingPath(target: string, tag: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Creates a new file beside `target` (never reuses one), writes and fsyncs it, with exactly `mode`. */
export async function writeTemp(target: string, bytes: Buffer, mode: number, tag: string): Promise<string> {
  const temp = siblingPath(target, tag);
  let handle;
  try {
    handle = await open(temp, 'wx', mode);
  } catch (err) {
    throw writeError(`cannot create ${temp}`, err);
  }
  try {
    await handle.writeFile(bytes);
    // open() applies the umask; chmod gives the mode the target had.
    await handle.chmod(mode);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlinkQuietly(temp);
    throw writeError(`cannot write ${temp}`, err);
  }
  await handle.close();
  return temp;
}

/** fsync `from`, rename it over `to`, then fsync the directory so the new name is durable. */
export async function renameDurably(from: string, to: string): Promise<void> {
  try {
    const handle = await open(from, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(from, to);
  } catch (err) {
    throw writeError(`cannot rename ${from} to ${to}`, err);
  }
  await fsyncDirectory(path.dirname(to));
}

export async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    throw writeError(`cannot fsync directory ${dir}`, err);
  } finally {
    await handle?.close();
  }
}

/** The permission bits of an existing file, or null when there is none. */
export async function modeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).mode & 0o7777;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw writeError(`cannot stat ${file}`, err);
  }
}

export async function unlinkQuietly(file: string): Promise<void> {
  await unlink(file).catch(() => undefined);
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw writeError(`cannot read ${file}`, err);
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT';
}

function writeError(message: string, cause: unknown): GaleraHaproxyError {
  return new GaleraHaproxyError('WRITE_FAILED', message, { cause });
}
