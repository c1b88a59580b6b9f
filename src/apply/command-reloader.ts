import { execa } from 'execa';
import { ApplyError } from '../errors.js';
import type { Reloader } from './types.js';

/**
 * Reloads by running an operator's command (an argv, no shell), e.g. `systemctl reload haproxy`.
 * A zero exit is not proof: the applier confirms through the stats socket that a new worker answers
 * with the expected servers.
 */
export function createCommandReloader(options: { readonly argv: readonly string[]; readonly timeoutMs: number }): Reloader {
  const [file, ...args] = options.argv;
  if (file === undefined) throw new ApplyError('RELOAD_FAILED', 'the reload command is empty');
  return {
    async reload(reason: string): Promise<void> {
      const result = await execa(file, args, { reject: false, timeout: options.timeoutMs, all: true });
      if (result.exitCode !== 0 || result.failed) {
        throw new ApplyError(
          'RELOAD_FAILED',
          `reload command ${JSON.stringify(options.argv)} failed (${result.exitCode === undefined ? 'no exit code' : `exit ${result.exitCode}`}) for "${reason}": ${String(result.all ?? '').trim()}`,
        );
      }
    },
  };
}
