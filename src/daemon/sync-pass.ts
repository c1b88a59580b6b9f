import { decodeCluster } from '../model/decode-cluster.js';
import { structureOf } from '../plan/parse-servers.js';
import type { ClusterState } from '../model/types.js';
import type { ServerNaming } from '../model/server-name.js';
import type { SourceView } from '../source/types.js';
import type { Applier } from '../apply/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics, UpdateOutcome } from '../observe/metrics.js';
import { describeError } from '../errors.js';
import { logDecisions, summarizePass } from './decision-log.js';
import { placeWriter } from './single-writer.js';
import { logDiagnostic, type LiveConfig } from './live-config.js';
import type { FileLane } from './file-lane.js';
import { confirmLastWrite } from './unconfirmed-write.js';

/** Renders a decoded state; the daemon does not care which template or engine is behind it. */
export interface ConfigRenderer {
  render(state: ClusterState, meta: { revision: string }): string;
}

export interface SyncDeps {
  readonly prefix: string;
  readonly renderer: ConfigRenderer;
  readonly live: LiveConfig;
  /** Null for a dry run: render and check, touch nothing. */
  readonly applier: Applier | null;
  readonly minServers: number;
  /**
   * Single-writer mode: list the writer first (the template's `balance first` sends it every write) and
   * keep the writer the file already names while it is registered, so writes do not move needlessly.
   */
  readonly singleWriter?: boolean;
  /** How server names are chosen (template variable `server_names`). @default "host" */
  readonly serverNames?: ServerNaming;
  /** Writes the file behind runtime-first changes; without one (once, render) it is written inline. */
  readonly lane?: FileLane | null;
  /**
   * Puts IPs in place of host names (see resolve/resolve-hosts.ts); without it, names reach the file as
   * registered. `hasNames` tells the loop that a periodic pass is needed to catch DNS changes.
   */
  readonly hosts?: { resolve(state: ClusterState, log: Logger): Promise<ClusterState>; hasNames(): boolean };
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

export interface SyncResult {
  readonly outcome: UpdateOutcome;
  readonly revision: string;
  readonly state: ClusterState;
  /** The config HAProxy should now run (the rendered one, or the kept one when held back). */
  readonly config: string | null;
  readonly reason?: string;
  /** True when the failure may clear by itself (HAProxy busy, socket gone): the loop retries. */
  readonly retry: boolean;
}

/**
 * One pass of the pipeline: decode → guard → render → (unchanged? stop) → check staged → commit → apply.
 * Every way out is a value with an outcome; the live file is only replaced by a file that passed
 * `haproxy -c`, and never by one with fewer than `minServers` servers.
 * `previousRevision` is the revision the previous pass decoded (null on the first pass, `once`): a seed
 * node whose `ip` appeared since then without `port` waits one pass (the state says `settleSoon`).
 */
export async function syncToView(
  view: SourceView,
  previous: ClusterState | null,
  deps: SyncDeps,
  previousRevision: string | null = null,
): Promise<SyncResult> {
  const now = deps.now ?? (() => performance.now());
  const started = now();
  const log = deps.logger.child({ revision: view.revision });
  const decoded = decodeCluster(deps.prefix, view.kvs, {
    ...(deps.serverNames === undefined ? {} : { serverNames: deps.serverNames }),
    // etcd revisions are decimal; a source without them holds nothing back.
    ...(previousRevision === null || !/^\d+$/.test(previousRevision) ? {} : { portMayFollowAfter: BigInt(previousRevision) }),
  });
  const state = deps.hosts === undefined ? decoded : await deps.hosts.resolve(decoded, log);
  logDecisions(log, previous, state);
  deps.metrics.nodes.set({ state: 'valid' }, state.nodes.length);
  deps.metrics.nodes.set({ state: 'rejected' }, state.rejected.length);
  deps.metrics.nodes.set({ state: 'incomplete' }, state.incomplete.length);

  const finish = (result: Omit<SyncResult, 'revision' | 'state'>): SyncResult => {
    const seconds = (now() - started) / 1000;
    deps.metrics.updates.inc({ outcome: result.outcome });
    deps.metrics.applySeconds.observe({ outcome: result.outcome }, seconds);
    deps.metrics.unableToSync.set(result.outcome === 'failed' || result.outcome === 'guarded' ? 1 : 0);
    const line = { outcome: result.outcome, durationMs: Math.round(seconds * 1000), servers: state.nodes.length };
    if (result.outcome === 'failed') log.error({ ...line, reason: result.reason }, 'sync failed; HAProxy keeps its last good config');
    else if (result.outcome === 'guarded') log.warn({ ...line, reason: result.reason }, 'sync held back by the guard');
    else {
      // A pass that changed nothing is not a decision (single-writer mode runs one every second); the
      // first pass of a start still says what it found.
      const summary = result.reason === undefined ? summarizePass(previous, state, result.outcome) : null;
      log.debug(line, `sync ${result.outcome}`);
      if (summary !== null) log.info({ ...line, ...summary.fields }, summary.msg);
    }
    return { ...result, revision: view.revision, state };
  };

  if (deps.applier !== null && (deps.lane?.latest() ?? null) === null) {
    const failure = await confirmLastWrite(deps.live, deps.applier, view.revision, log);
    if (failure !== null) return finish({ outcome: 'failed', config: null, reason: failure, retry: true });
  }

  if (state.nodes.length < deps.minServers) {
    return finish({
      outcome: 'guarded',
      config: null,
      reason: `${state.nodes.length} valid node(s) under ${deps.prefix}, fewer than --min-servers ${deps.minServers}: keeping the last config`,
      retry: false,
    });
  }

  const lane = deps.lane ?? null;
  let current = lane?.latest() ?? (await deps.live.read());
  const writer = deps.singleWriter === true ? await placeWriter(state, current, deps.applier) : { state, moved: undefined };
  const rendered = writer.state;

  let next: string;
  try {
    next = deps.renderer.render(rendered, { revision: view.revision });
  } catch (err) {
    return finish({ outcome: 'failed', config: null, reason: `render: ${describeError(err)}`, retry: false });
  }

  if (current !== null && deps.live.equivalent(current, next)) {
    return finish({ outcome: 'noop', config: current, retry: false });
  }

  // Server-only changes (the rest of the file identical) go to the Runtime API first and the checked
  // file follows in the lane: `haproxy -c` costs ~50 ms, the runtime ops a few. Anything else, a
  // runtime op that fails, or a one-shot run without a lane, takes the checked-file way below.
  if (
    lane !== null &&
    current !== null &&
    deps.applier !== null &&
    writer.moved === undefined &&
    !lane.isRejected(next) &&
    structureOf(current) === structureOf(next)
  ) {
    const fast = await deps.applier.apply({ previous: current, next, revision: view.revision, allowReload: false });
    if (fast.outcome === 'runtime' || fast.outcome === 'noop') {
      lane.submit(next);
      return finish({ outcome: fast.outcome, config: next, retry: false });
    }
  }

  // The checked-file way starts from what is on disk, with nothing of the lane still in flight.
  if (lane !== null) {
    await lane.settle();
    current = await deps.live.read();
    if (current !== null && deps.live.equivalent(current, next)) return finish({ outcome: 'noop', config: current, retry: false });
  }
  const check = await deps.live.check(next);
  if (!check.ok) {
    for (const d of check.diagnostics) logDiagnostic(log, d);
    // The runtime may hold servers that went ahead of a file that can never be written: match the disk.
    if (lane !== null && deps.applier !== null && current !== null) await deps.applier.reconcile(current, view.revision);
    return finish({ outcome: 'failed', config: null, reason: `haproxy -c rejected the rendered config: ${check.summary}`, retry: false });
  }
  if (deps.applier === null) {
    return finish({ outcome: 'noop', config: next, reason: 'dry run', retry: false });
  }
  try {
    await deps.live.markUnconfirmed(current);
    await deps.live.commit(check);
  } catch (err) {
    return finish({ outcome: 'failed', config: null, reason: `write ${deps.live.path}: ${describeError(err)}`, retry: true });
  }
  const applied = await deps.applier.apply({ previous: current, next, revision: view.revision, ...(writer.moved ? { reloadReason: writer.moved } : {}) });
  if (applied.plan.reloadReasons.length > 0) log.info({ reasons: applied.plan.reloadReasons }, 'reload reasons');
  if (applied.outcome === 'failed') {
    const reason = `apply: ${applied.error ? describeError(applied.error) : 'unknown'}`;
    // HAProxy still runs the old config: put the old file back (or take the new one away when there was
    // none) so the live file is untouched and the next pass sees the difference again and retries,
    // instead of finding the file already up to date.
    try {
      await deps.live.restore(current);
      await deps.live.confirm();
    } catch (err) {
      log.error({ err: describeError(err) }, `could not restore ${deps.live.path} after a failed apply`);
    }
    return finish({ outcome: 'failed', config: current, reason, retry: true });
  }
  try {
    await deps.live.confirm();
  } catch (err) {
    log.warn({ err: describeError(err) }, `could not clear the unconfirmed-write note beside ${deps.live.path}; the next start applies the file once more`);
  }
  return finish({ outcome: applied.outcome, config: next, retry: false });
}
