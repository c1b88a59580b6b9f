import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, type TempDir } from '../helpers/ports.js';
import { sleep, waitFor } from './galera-harness.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// A stand-in for a test process: starts the reaper and a long-running child, prints the child's pid,
// then waits to be killed with no chance to clean up.
const HOST = `
import { spawn } from 'node:child_process';
import { startOrphanReaper } from ${JSON.stringify(join(import.meta.dirname, 'orphan-reaper.ts'))};
const reaper = startOrphanReaper(process.argv[1]);
const child = spawn('sleep', ['300'], { stdio: 'ignore' });
reaper.track(child.pid);
console.log(child.pid);
setInterval(() => undefined, 1000);
`;

describe('the orphan reaper', () => {
  let dir: TempDir | undefined;
  const leftovers: number[] = [];
  afterEach(async () => {
    for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await dir?.remove();
  });

  it('kills the processes a test process started when that process is SIGKILLed', async () => {
    dir = await tempDir('reaper-test');
    const host = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', HOST, dir.path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: host.stdout! }).once('line', (line) => resolve(Number(line)));
      host.once('exit', (code) => reject(new Error(`host exited early with ${String(code)}`)));
    });
    leftovers.push(pid);
    await sleep(500);
    expect(alive(pid)).toBe(true);
    host.kill('SIGKILL');
    await waitFor(`sleep ${String(pid)} to be killed`, 10_000, async () => (alive(pid) ? undefined : true));
    expect(alive(pid)).toBe(false);
  });
});
