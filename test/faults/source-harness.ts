import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import type { Logger } from '../../src/observe/logger.js';
import type { SourceHealth, SourceListener, SourceView } from '../../src/source/types.js';
import { readPrefix } from '../helpers/etcd.js';

/** Polls `check` until it returns true; the timeout is a bound, not a performance goal. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A listener that keeps every view and health report, materialised at delivery time. */
export class Recorder implements SourceListener {
  readonly views: Array<{ revision: bigint; kvs: Record<string, string>; cause: SourceView['cause'] }> = [];
  readonly healths: SourceHealth[] = [];

  onChange(view: SourceView): void {
    this.views.push({
      revision: BigInt(view.revision),
      kvs: Object.fromEntries(view.kvs.map((kv) => [kv.key, kv.value])),
      cause: view.cause,
    });
  }

  onHealth(health: SourceHealth): void {
    this.healths.push(health);
  }

  latest(): Record<string, string> | undefined {
    return this.views.at(-1)?.kvs;
  }

  /** Revisions never go backwards across views. */
  monotonic(): boolean {
    return this.views.every((v, i) => i === 0 || v.revision >= (this.views[i - 1]?.revision ?? 0n));
  }
}

export function sameKeys(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (a === undefined) return false;
  const ak = Object.keys(a);
  return ak.length === Object.keys(b).length && ak.every((k) => a[k] === b[k]);
}

/** Waits until the recorder's latest view equals what etcd holds under the prefix now. */
export async function waitConverged(recorder: Recorder, client: Etcd3, prefix: string, timeoutMs: number): Promise<number> {
  let truth: Record<string, string> = {};
  let lastRead = 0;
  return waitFor(
    async () => {
      if (Date.now() - lastRead > 200) {
        truth = await readPrefix(client, `${prefix}/`);
        lastRead = Date.now();
      }
      return sameKeys(recorder.latest(), truth);
    },
    timeoutMs,
    `the mirror of ${prefix} to equal etcd`,
  );
}

/** JSON lines to a buffer when DEBUG_SOURCE is set, silent otherwise. */
export function testLogger(): Logger {
  return process.env.DEBUG_SOURCE === undefined ? pino({ level: 'silent' }) : pino({ level: 'debug' });
}
