import { decodeCluster } from '../model/decode-cluster.js';
import { parseServers, structureOf } from '../plan/parse-servers.js';
import { chooseWriter, orderWriterFirst } from '../model/choose-writer.js';
import type { ClusterState } from '../model/types.js';
import type { SourceView } from '../source/types.js';
import type { Applier } from '../apply/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics, UpdateOutcome } from '../observe/metrics.js';
import { describeError } from '../errors.js';
import { diffNodes } from './node-changes.js';
import { logDiagnostic, type LiveConfig } from './live-config.js';
import type { FileLane } from './file-lane.js';

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
  /** Writes the file behind runtime-first changes; without one (once, render) it is written inline. */
  readonly lane?: FileLane | null;
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
 */
export async function syncToView(view: SourceView, previous: ClusterState | null, deps: SyncDeps): Promise<SyncResult> {
  const now = deps.now ?? (() => performance.now());
  const started = now();
  const log = deps.logger.child({ revision: view.revision });
  const state = decodeCluster(deps.prefix, view.kvs);
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
    else log.info(line, `sync ${result.outcome}`);
    return { ...result, revision: view.revision, state };
  };

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
  // file follows: `haproxy -c` costs ~50 ms, the runtime ops a few. Anything else, or a runtime op
  // that fails, takes the checked-file way below.
  if (current !== null && deps.applier !== null && writer.moved === undefined && lane?.isRejected(next) !== true && structureOf(current) === structureOf(next)) {
    const fast = await deps.applier.apply({ previous: current, next, revision: view.revision, allowReload: false });
    if ((fast.outcome === 'runtime' || fast.outcome === 'noop') && lane !== null) {
      lane.submit(next);
      return finish({ outcome: fast.outcome, config: next, retry: false });
    }
    if (fast.outcome === 'runtime' || fast.outcome === 'noop') {
      const check = await deps.live.check(next);
      if (check.ok) {
        try {
          await deps.live.commit(check);
        } catch (err) {
          return finish({ outcome: 'failed', config: current, reason: `write ${deps.live.path}: ${describeError(err)}`, retry: true });
        }
        return finish({ outcome: fast.outcome, config: next, retry: false });
      }
      for (const d of check.diagnostics) logDiagnostic(log, d);
      // The runtime already has servers the file cannot hold: take them back out so HAProxy matches disk.
      await deps.applier.apply({ previous: next, next: current, revision: view.revision });
      return finish({ outcome: 'failed', config: current, reason: `haproxy -c rejected the rendered config: ${check.summary}`, retry: false });
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
    await deps.live.commit(check);
  } catch (err) {
    return finish({ outcome: 'failed', config: null, reason: `write ${deps.live.path}: ${describeError(err)}`, retry: true });
  }
  const applied = await deps.applier.apply({ previous: current, next, revision: view.revision, ...(writer.moved ? { reloadReason: writer.moved } : {}) });
  if (applied.plan.reloadReasons.length > 0) log.info({ reasons: applied.plan.reloadReasons }, 'reload reasons');
  if (applied.outcome === 'failed') {
    const reason = `apply: ${applied.error ? describeError(applied.error) : 'unknown'}`;
    // HAProxy still runs the old config: put the old file back so the next pass sees the difference
    // again and retries, instead of finding the file already up to date.
    if (current !== null) {
      try {
        await deps.live.restore(current);
      } catch (err) {
        log.error({ err: describeError(err) }, `could not restore ${deps.live.path} after a failed apply`);
      }
    }
    return finish({ outcome: 'failed', config: current, reason, retry: true });
  }
  return finish({ outcome: applied.outcome, config: next, retry: false });
}

const MAINT_BITS = 0x67;

/**
 * Single-writer mode. The writer is the first server the current file lists, and stays the writer
 * while it is registered and up. When it leaves etcd or fails its check, HAProxy's `balance first` has
 * already moved new writes to the first server that is up in runtime order; the file follows that
 * choice (so a reload keeps it, and the old writer does not take writes back when it recovers).
 */
async function placeWriter(
  state: ClusterState,
  current: string | null,
  applier: Applier | null,
): Promise<{ state: ClusterState; moved: string | undefined }> {
  const listed = current === null ? [] : parseServers(current);
  const previous = listed[0] ?? null;
  let keep = previous?.name ?? null;
  const registered = new Set(state.nodes.map((n) => n.name));
  if (previous !== null && applier?.runtime) {
    const runtime = (await applier.runtime())?.filter((s) => s.backend === previous.backend) ?? null;
    const up = (runtime ?? []).filter((s) => s.operState === 2 && (s.adminState & MAINT_BITS) === 0 && registered.has(s.name));
    const writerUp = up.some((s) => s.name === previous.name);
    if (runtime !== null && (!writerUp || !registered.has(previous.name)) && up.length > 0) keep = up[0]?.name ?? keep;
  }
  const writer = chooseWriter(state.nodes, keep);
  const moved = previous !== null && writer !== null && writer !== previous.name ? `single writer moves from ${previous.name} to ${writer}` : undefined;
  return { state: { ...state, nodes: orderWriterFirst(state.nodes, writer) }, moved };
}

/** One line per node; a mass change (a first snapshot, a burst) is one summary line, the rest at debug. */
const MAX_LINES_PER_KIND = 20;
function logEach(log: Logger, msg: string, nodes: readonly ClusterState['nodes'][number][]): void {
  nodes.forEach((n, i) => {
    const line = { node: n.id, server: n.name, address: n.address, port: n.port };
    if (nodes.length <= MAX_LINES_PER_KIND) log.info(line, msg);
    else log.debug(line, msg);
    if (nodes.length > MAX_LINES_PER_KIND && i === 0) log.info({ count: nodes.length, first: nodes.slice(0, MAX_LINES_PER_KIND).map((x) => x.id) }, `${msg}: ${nodes.length} nodes`);
  });
}

function logDecisions(log: Logger, previous: ClusterState | null, state: ClusterState): void {
  const changes = diffNodes(previous, state);
  logEach(log, 'node added', changes.added);
  logEach(log, 'node removed', changes.removed);
  for (const c of changes.changed) {
    log.info(
      { node: c.to.id, server: c.to.name, from: `${c.from.address}:${c.from.port} w${c.from.weight}${c.from.backup ? ' backup' : ''}`, to: `${c.to.address}:${c.to.port} w${c.to.weight}${c.to.backup ? ' backup' : ''}` },
      'node changed',
    );
  }
  for (const r of changes.newlyRejected) log.warn({ key: r.key, node: r.id }, `node rejected: ${r.key}: ${r.reason}`);
}
