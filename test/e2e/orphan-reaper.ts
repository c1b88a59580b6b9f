import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Kills what an end-to-end run started if the test process dies without cleaning up: an
 * out-of-memory abort or a SIGKILL runs no `exit` hook and no `afterAll`, and a stray mariadbd holds
 * 127.0.0.11-13 for the next run. A small shell, tied to this process by the kernel's parent-death
 * signal, waits for that signal and kills every tracked pid that still is the process it was (same
 * start time, so a recycled pid is never hit).
 */
export interface OrphanReaper {
  /** Records a started process; an undefined or null pid is ignored. */
  track(pid: number | null | undefined): void;
  /** Kills whatever is left of the tracked processes, then the reaper itself. */
  stop(): Promise<void>;
}

// Field 22 of /proc/<pid>/stat, counted after the `(comm)` field, which may contain spaces.
const REAP_SCRIPT = `
list="$1"
reap() {
  while read -r pid start; do
    now=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)
    [ -n "$now" ] && [ "$now" = "$start" ] && kill -9 "$pid" 2>/dev/null
  done < "$list"
  kill "$!" 2>/dev/null
  exit 0
}
trap reap TERM
while :; do sleep 3600 & wait $!; done
`;

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function startOrphanReaper(dir: string): OrphanReaper {
  const list = join(dir, 'reap.list');
  writeFileSync(list, '');
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'sh', '-c', REAP_SCRIPT, 'reaper', list], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    track: (pid) => {
      if (pid === null || pid === undefined) return;
      const start = startTime(pid);
      if (start !== null) appendFileSync(list, `${String(pid)} ${start}\n`);
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
