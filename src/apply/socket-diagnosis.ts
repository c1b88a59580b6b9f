import { connect } from 'node:net';
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/** What a path is instead of a unix socket: `is a regular file`, `is a directory`, or null for a socket. */
export function describeNonSocket(stats: Stats): string | null {
  if (stats.isSocket()) return null;
  if (stats.isFile()) return 'is a regular file, not a socket';
  if (stats.isDirectory()) return 'is a directory, not a socket';
  return 'exists but is not a socket';
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** The usual reasons a path cannot be reached, in words; the errno itself otherwise. */
export function describePathError(err: unknown): string {
  const code = errnoCode(err);
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a parent of it is not a directory';
  if (code === 'ECONNREFUSED') return 'is a socket with nothing listening on it';
  return err instanceof Error ? err.message : String(err);
}

/**
 * Says why a unix socket path does not answer: missing, a regular file, a directory, permission
 * denied, nothing listening. A connect on Linux answers ECONNREFUSED for most of these, so the kind
 * of file is read first.
 */
export async function diagnoseSocketPath(path: string, timeoutMs = 1000): Promise<string> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (err) {
    return describePathError(err);
  }
  const notSocket = describeNonSocket(stats);
  if (notSocket !== null) return notSocket;
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (why: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`is a socket that did not accept a connection within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done('is a socket that accepts connections'));
    socket.once('error', (err) => done(describePathError(err)));
  });
}
