import { isDeepStrictEqual } from 'node:util';
import type { PipelineOptions } from './daemon-options.js';
import type { ServiceSpec } from '../model/service.js';

/**
 * Options a running daemon takes from an edited config file: what is rendered and from which prefixes.
 * The rest (etcd, sockets, the managed file, timings, the status listener) is wired into objects built
 * at start-up; a change to them is reported and takes effect at the next start.
 */
const HOT: ReadonlySet<keyof PipelineOptions> = new Set(['prefix', 'templatePath', 'setFlags', 'minServers']);

/** Option names (as in the file) whose new value needs a restart, in a stable order. */
export function restartOnlyChanges(before: PipelineOptions, after: PipelineOptions): string[] {
  return (Object.keys(before) as (keyof PipelineOptions)[])
    .filter((key) => !HOT.has(key) && !isDeepStrictEqual(before[key], after[key]))
    .map((key) => key.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))
    .sort();
}

/** What an edit changes in the services, for one log line: added, removed and changed section names. */
export function describeServiceChanges(before: readonly ServiceSpec[], after: readonly ServiceSpec[]): { added: string[]; removed: string[]; changed: string[] } {
  const old = new Map(before.map((s) => [s.name, s]));
  const now = new Map(after.map((s) => [s.name, s]));
  return {
    added: after.filter((s) => !old.has(s.name)).map((s) => s.name),
    removed: before.filter((s) => !now.has(s.name)).map((s) => s.name),
    changed: after.filter((s) => old.has(s.name) && !isDeepStrictEqual(old.get(s.name), s)).map((s) => s.name),
  };
}
