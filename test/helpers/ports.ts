import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A TCP port that was free a moment ago on `host`. The kernel picks it (port 0), so parallel test files
 * rarely collide; callers that start servers on it should still expect a small race.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => reject(new Error(`no free port on ${host}: ${err.message}`, { cause: err })));
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address on ${host}`));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** Several distinct free ports at once (held open together so they cannot repeat). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    ports.add(await freePort(host));
  }
  return [...ports];
}

export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** A fresh directory under the OS temp dir; `remove()` deletes it and everything in it. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}-`));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
