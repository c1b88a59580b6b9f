import type { Applier } from '../apply/types.js';
import { describeError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { LiveConfig } from './live-config.js';

/**
 * Brings HAProxy to the file on disk when the last write was never confirmed running (the daemon stopped
 * between the rename and the confirmed apply). Without this the next pass finds the file equal to the
 * render and does nothing, and HAProxy keeps the old config until some later change needs a reload.
 * The plan goes from the config HAProxy ran before the write, so it reloads only if that write needed it;
 * when that config is unknown, it reloads. Returns null once HAProxy runs the file, else why it does not.
 */
export async function confirmLastWrite(live: LiveConfig, applier: Applier, revision: string, log: Logger): Promise<string | null> {
  const note = await live.unconfirmed();
  if (note === null) return null;
  const onDisk = await live.read();
  if (onDisk !== null) {
    log.warn({ config: live.path, runningKnown: note.running !== null }, 'the last write of the config was never confirmed running; applying it first');
    const result = await applier.apply({ previous: note.running, next: onDisk, revision });
    if (result.outcome === 'failed') return `apply the unconfirmed ${live.path}: ${result.error ? describeError(result.error) : 'unknown'}`;
  }
  await live.confirm();
  return null;
}
