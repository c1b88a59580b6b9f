import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { normalizePrefix } from '../model/prefix.js';
import type { KeyValue } from '../model/types.js';
import type { ServiceSpec } from '../model/service.js';
import type { SourceView } from '../source/types.js';
import { createLiveConfig } from '../daemon/live-config.js';
import { syncToView, type SyncDeps, type SyncResult } from '../daemon/sync-pass.js';
import type { Pipeline } from './compose-pipeline.js';

/**
 * Keys of a `--nodes` file under no service's prefix are skipped by the decoder, as a range read would
 * never return them; said in one line (how many, the prefixes, one of them), since "0 valid nodes" alone
 * hides a file written for another prefix.
 */
export function describeIgnoredKeys(kvs: readonly KeyValue[], services: readonly Pick<ServiceSpec, 'prefix'>[], path: string): string | null {
  const bases = services.map((s) => normalizePrefix(s.prefix));
  const outside = kvs.filter((kv) => !bases.some((base) => kv.key.startsWith(base)));
  if (outside.length === 0) return null;
  const example = JSON.stringify(outside[0]?.key);
  const where = bases.map((b) => b.replace(/\/$/, '')).join(', ');
  return `${outside.length} of ${kvs.length} key(s) in --nodes ${path} are outside --prefix ${where} and were ignored (e.g. ${example})`;
}

/** Reads a `--nodes` file: a JSON object of etcd keys to the values etcd would hold. */
export function parseNodesFile(text: string, path: string): KeyValue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--nodes ${path}: not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`--nodes ${path}: expected a JSON object mapping etcd keys to values`);
  }
  return Object.entries(parsed as Record<string, unknown>).map(([key, value]) => {
    if (typeof value === 'string') return { key, value };
    if (typeof value === 'number' || typeof value === 'boolean') return { key, value: String(value) };
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { key, value: JSON.stringify(value) };
    throw new ConfigError(`--nodes ${path}: key ${JSON.stringify(key)}: value must be a string, number or JSON object`);
  });
}

/** The nodes a one-shot command works on: a `--nodes` file, or one read of etcd. */
export interface NodesInput {
  readonly view: SourceView;
  /** For the header: where the nodes came from, when not etcd. */
  readonly origin?: string;
  /** Why keys of a `--nodes` file were ignored, or null. */
  readonly ignored: string | null;
}

export async function readNodes(pipeline: Pipeline, nodesFile: string | undefined): Promise<NodesInput> {
  if (nodesFile !== undefined) {
    const text = await readFile(nodesFile, 'utf8').catch((err: unknown) => {
      throw new ConfigError(`--nodes ${nodesFile}: ${(err as Error).message}`);
    });
    const kvs = parseNodesFile(text, nodesFile);
    const ignored = describeIgnoredKeys(kvs, pipeline.services, nodesFile);
    if (ignored !== null) pipeline.logger.warn(ignored);
    return { view: { revision: 'file', kvs, cause: 'snapshot' }, origin: `nodes file ${nodesFile}`, ignored };
  }
  const source = await pipeline.source();
  try {
    return { view: await source.readOnce(), ignored: null };
  } finally {
    await source.close();
  }
}

/** What each one-shot command is: the same pass, with more or less of it done. */
export type PassMode =
  /** Render (and with `check`, `haproxy -c` on a staged copy): no live file, no HAProxy. */
  | { readonly kind: 'render'; readonly check: boolean }
  /** Everything up to the plan against the running HAProxy; nothing is written or changed. */
  | { readonly kind: 'plan' }
  /** The whole pass: write the file, apply. */
  | { readonly kind: 'apply' };

/**
 * `render`, `plan` and `once` are this one pass over one input, so the three cannot disagree about the
 * config or the decision. The daemon runs the same `syncToView` from its loop.
 */
export async function runOnePass(pipeline: Pipeline, input: NodesInput, mode: PassMode): Promise<SyncResult> {
  const origin = input.origin === undefined ? {} : { origin: input.origin };
  if (mode.kind !== 'render') {
    const deps: SyncDeps = { ...pipeline.syncDeps(), ...origin, mode: mode.kind };
    try {
      return await syncToView(input.view, null, deps);
    } finally {
      pipeline.close();
    }
  }
  // A dry run must not read the live file nor leave anything behind: it renders against an empty,
  // private directory, as if no config existed yet.
  const dir = await mkdtemp(join(tmpdir(), 'galera-haproxy-render-'));
  try {
    const live = createLiveConfig({ path: join(dir, 'haproxy.cfg'), haproxyBin: pipeline.options.haproxyBin, checkTimeoutMs: pipeline.options.checkTimeoutMs });
    const deps: SyncDeps = { ...pipeline.syncDeps(), ...origin, live, applier: null, check: mode.check };
    return await syncToView(input.view, null, deps);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
