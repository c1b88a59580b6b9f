import { constants, type Stats } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { describeNonSocket, describePathError } from '../apply/socket-diagnosis.js';
import { ConfigError } from '../errors.js';
import { unlinkQuietly, writeTemp } from '../render/atomic-write.js';

/**
 * Checks of the paths and addresses named by flags, run before etcd is contacted: a wrong flag is an
 * exit 2 with one line naming it, not a retry loop or a rejected change minutes later.
 */

/** stat(2) of `path`, or a ConfigError such as `--config /a/b.cfg: directory /a does not exist`. */
async function statOrExplain(path: string, flag: string, value: string, what: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw new ConfigError(`${flag} ${value}: ${what} ${path} ${describePathError(err)}`);
  }
}

/** `--template`: a readable regular file. */
export async function checkTemplateFile(path: string): Promise<void> {
  const stats = await statOrExplain(path, '--template', path, 'file');
  if (!stats.isFile()) throw new ConfigError(`--template ${path}: not a regular file`);
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new ConfigError(`--template ${path}: cannot read it: ${describePathError(err)}`);
  }
}

/**
 * `--config`: its directory exists and takes a new file, because every write is a temp file beside the
 * config renamed over it. A probe file is created rather than asking access(2), which says yes to root
 * on a read-only file system.
 */
export async function checkConfigPath(path: string): Promise<void> {
  const dir = dirname(path);
  const dirStats = await statOrExplain(dir, '--config', path, 'directory');
  if (!dirStats.isDirectory()) throw new ConfigError(`--config ${path}: ${dir} is not a directory`);
  let existing: Stats | null = null;
  try {
    existing = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`--config ${path}: ${describePathError(err)}`);
  }
  if (existing !== null && !existing.isFile()) throw new ConfigError(`--config ${path}: not a regular file`);
  let probe: string;
  try {
    probe = await writeTemp(path, Buffer.alloc(0), 0o600, 'probe');
  } catch (err) {
    const cause = (err as Error).cause ?? err;
    throw new ConfigError(`--config ${path}: directory ${dir} is not writable (${describePathError(cause)}); the config is replaced by a rename in that directory`);
  }
  await unlinkQuietly(probe);
}

/**
 * `--master-socket`: a path that exists must be a unix socket. A missing one is accepted: HAProxy may
 * start after this process (a sidecar), and the reload says what the path is when it still fails.
 * Returns whether the socket exists, for a warning.
 */
export async function checkMasterSocket(path: string): Promise<boolean> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ConfigError(`--master-socket ${path}: ${describePathError(err)}`);
  }
  const notSocket = describeNonSocket(stats);
  if (notSocket !== null) throw new ConfigError(`--master-socket ${path}: ${notSocket}`);
  return true;
}

/** `host:port`, `[v6]:port` or `:port` (all of 127.0.0.1); port 0 takes a free one. */
export function parseListenAddress(listen: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match) throw new ConfigError(`${flag} ${JSON.stringify(listen)}: expected host:port, [ipv6]:port or :port`);
  if (port > 65535) throw new ConfigError(`${flag} ${listen}: port ${port} is out of range 0-65535`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** Why an address could not be bound, as a ConfigError naming the flag. */
export function listenError(listen: string, flag: string, err: NodeJS.ErrnoException): ConfigError {
  const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'not an address of this host' : err.message;
  return new ConfigError(`${flag} ${listen}: cannot listen: ${why}`);
}

/** Binds the address once and lets it go, so a port in use or a foreign address is an exit 2 now. */
export async function checkListenAddress(listen: string, flag: string): Promise<void> {
  const { host, port } = parseListenAddress(listen, flag);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(listen, flag, err)));
    server.listen({ host, port }, () => server.close(() => resolve()));
  });
}
