import type { ExitCode } from './io.js';

/** A command that ran and failed in an expected way (it already logged why); carries its exit code. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}
