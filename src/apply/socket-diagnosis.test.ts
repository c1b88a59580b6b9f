import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMasterCliReloader } from './master-cli-reloader.js';
import { diagnoseSocketPath } from './socket-diagnosis.js';
import { sendSocketCommand } from './haproxy-socket.js';
import { createLogger } from '../observe/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'socket-diagnosis-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('diagnoseSocketPath', () => {
  it('says what a path is when it is not a listening socket', async () => {
    const file = join(dir, 'file.sock');
    writeFileSync(file, '');
    const sub = join(dir, 'dir.sock');
    mkdirSync(sub);
    expect(await diagnoseSocketPath(join(dir, 'missing.sock'))).toBe('does not exist');
    expect(await diagnoseSocketPath(file)).toBe('is a regular file, not a socket');
    expect(await diagnoseSocketPath(sub)).toBe('is a directory, not a socket');
    expect(await diagnoseSocketPath(join(file, 'x'))).toBe('a parent of it is not a directory');
  });

  it('tells a listening socket from one nobody listens on', async () => {
    const path = join(dir, 'live.sock');
    const server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    expect(await diagnoseSocketPath(path)).toBe('is a socket that accepts connections');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

describe('master CLI reload', () => {
  it('says what the master socket path is when "show proc" gets no answer', async () => {
    const file = join(dir, 'master.sock');
    writeFileSync(file, '');
    const reloader = createMasterCliReloader({
      masterSocket: file,
      send: sendSocketCommand,
      confirmTimeoutMs: 1000,
      logger: createLogger({ level: 'silent' }),
    });
    await expect(reloader.reload('test')).rejects.toThrow(/did not answer "show proc".*: the path is a regular file, not a socket$/);
  });
});
