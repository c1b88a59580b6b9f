import type { Writable } from 'node:stream';

/** What a subcommand may touch of the outside world; tests pass their own. */
export interface CliIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Resolves with the signal name when the process is asked to stop (SIGTERM/SIGINT). */
  readonly stopSignal: Promise<string>;
  /**
   * Runs `listener` on each `signal` from now on (long-running commands: see control-signals.ts). A stop
   * signal is delivered here too, each time, so a command can tell a second SIGTERM from the first.
   */
  onSignal(signal: ControlSignal | StopSignal, listener: () => void): void;
}

/** Signals that ask a running command to do something other than stop. */
export type ControlSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';
export type StopSignal = 'SIGTERM' | 'SIGINT';

/** Process exit codes, in one place. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** A change was rejected (`haproxy -c` failed, guard held): the live file is untouched. */
  rejected: 3,
  /** etcd or HAProxy could not be reached. */
  unavailable: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
