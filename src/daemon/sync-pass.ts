import { decodeServices, nodesOf } from '../model/decode-cluster.js';
import { stripTrailingSlashes } from '../model/prefix.js';
import { parseServers, structureOf } from '../plan/parse-servers.js';
import type { ClusterState, GaleraNode } from '../model/types.js';
import type { ServiceSpec } from '../model/service.js';
import type { ServerNaming } from '../model/server-name.js';
import type { SourceView } from '../source/types.js';
import type { Applier } from '../apply/types.js';
import type { Plan } from '../plan/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics, UpdateOutcome } from '../observe/metrics.js';
import { describeError } from '../errors.js';
import { logDecisions, summarizePass } from './decision-log.js';
import { WriterElection, type WriterStatus } from './writer-election.js';
import { logDiagnostic, type LiveConfig } from './live-config.js';
import type { FileLane } from './file-lane.js';
import { confirmLastWrite } from './unconfirmed-write.js';

/** Renders a decoded state; the daemon does not care which template or engine is behind it. */
export interface ConfigRenderer {
  render(state: ClusterState, meta: { revision: string; origin?: string }): string;
}

export interface SyncDeps {
  /**
   * The sections kept in step, each with its prefix, its own min-servers guard and its writer mode. In
   * single-writer mode the write listener sends writes only to the writer its etcd record names (see
   * {@link WriterElection}); the other servers carry weight 0 there.
   */
  readonly services: readonly ServiceSpec[];
  readonly renderer: ConfigRenderer;
  readonly live: LiveConfig;
  /** Null for a dry run: render and check, touch nothing. */
  readonly applier: Applier | null;
  /** Run `haproxy -c` on the rendered config (a dry run may skip it). @default true */
  readonly check?: boolean;
  /**
   * `plan`: go as far as the plan (render, check, read HAProxy's runtime) and change nothing; the result
   * carries the plan. @default "apply"
   */
  readonly mode?: 'apply' | 'plan';
  /** Where the nodes came from, for the header (a `--nodes` file). @default "etcd revision N" */
  readonly origin?: string;
  /** How server names are chosen (template variable `server_names`). @default "host" */
  readonly serverNames?: ServerNaming;
  /** Writes the file behind runtime-first changes; without one (once, render) it is written inline. */
  readonly lane?: FileLane | null;
  /**
   * Puts IPs in place of host names (see resolve/resolve-hosts.ts); without it, names reach the file as
   * registered. `hasNames` tells the loop that a periodic pass is needed to catch DNS changes.
   */
  readonly hosts?: { resolve(state: ClusterState, log: Logger): Promise<ClusterState>; hasNames(): boolean };
  /**
   * Reads (and in `once`/`watch` proposes) each single-writer service's record; kept across passes so
   * a record change is logged once. @default one that follows the record and never writes it
   */
  readonly writers?: WriterElection;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

/** A service its min-servers guard holds: its section keeps the servers it has. */
export interface HeldService {
  readonly service: string;
  readonly reason: string;
  /** The reason as one line of a message, naming the service when there are several. */
  readonly line: string;
}

export interface SyncResult {
  readonly outcome: UpdateOutcome;
  readonly revision: string;
  readonly state: ClusterState;
  /** The config HAProxy should now run (the rendered one, or the kept one when held back). */
  readonly config: string | null;
  readonly reason?: string;
  /** Why each held service was held (its own min-servers guard), when any was. */
  readonly held?: readonly HeldService[];
  /** In plan mode: what applying would do (see `Applier.plan`), and whether the file would be rewritten. */
  readonly plan?: { readonly plan: Plan; readonly runtimeError?: string; readonly fileChanges: boolean };
  /** True when the failure may clear by itself (HAProxy busy, socket gone): the loop retries. */
  readonly retry: boolean;
  /** Each single-writer service's record and the server this proxy sends its writes to. */
  readonly writers?: readonly WriterStatus[];
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
  // After a start (no previous pass) the running config's names stand in for the previous pass's.
  const running = previous === null ? ((deps.lane?.latest() ?? null) ?? (await deps.live.read())) : null;
  const decoded = decodeServices(deps.services, view.kvs, {
    ...(deps.serverNames === undefined ? {} : { serverNames: deps.serverNames }),
    // etcd revisions are decimal; a source without them holds nothing back.
    ...(previousRevision === null || !/^\d+$/.test(previousRevision) ? {} : { portMayFollowAfter: BigInt(previousRevision) }),
    // Names stay with their nodes from pass to pass (see DecodeOptions.previousNames).
    ...(previous === null ? {} : { previous: previous.nodes }),
    ...(running === null ? {} : { running: parseServers(running) }),
  });
  const state = deps.hosts === undefined ? decoded : await deps.hosts.resolve(decoded, log);
  logDecisions(log, previous, state);
  deps.metrics.nodes.reset();
  deps.services.forEach((service, i) => {
    const mine = (item: { readonly service?: string }): boolean => item.service === service.name || (i === 0 && item.service === undefined);
    deps.metrics.nodes.set({ service: service.name, state: 'valid' }, state.nodes.filter(mine).length);
    deps.metrics.nodes.set({ service: service.name, state: 'rejected' }, state.rejected.filter(mine).length);
    deps.metrics.nodes.set({ service: service.name, state: 'incomplete' }, state.incomplete.filter(mine).length);
    deps.metrics.nodes.set({ service: service.name, state: 'draining' }, state.nodes.filter((n) => mine(n) && n.draining === true).length);
  });

  // Filled once the writers are placed; a pass that stops before that reports none.
  let writers: { writers?: readonly WriterStatus[] } = {};
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
    return { ...result, revision: view.revision, state, ...writers };
  };

  const planOnly = deps.mode === 'plan';
  if (deps.applier !== null && !planOnly && (deps.lane?.latest() ?? null) === null) {
    const failure = await confirmLastWrite(deps.live, deps.applier, view.revision, log);
    if (failure !== null) return finish({ outcome: 'failed', config: null, reason: failure, retry: true });
  }

  const lane = deps.lane ?? null;
  let current = lane?.latest() ?? (await deps.live.read());
  const guard = applyGuards(deps.services, state, current);
  if (guard.held.length > 0 && (guard.state === null || guard.held.length === deps.services.length)) {
    return finish({ outcome: 'guarded', config: null, reason: `${guard.held.map((h) => h.line).join('; ')}: keeping the last config`, held: guard.held, retry: false });
  }
  for (const h of guard.held) log.warn({ service: h.service, reason: h.reason }, 'service held back by the guard; its servers stay as they are');
  let rendered = guard.state ?? state;
  const placed = await placeWriters(rendered, view, deps, guard.held, current, log);
  rendered = placed.state;
  writers = placed.writers.length === 0 ? {} : { writers: placed.writers };

  let next: string;
  try {
    next = deps.renderer.render(rendered, deps.origin === undefined ? { revision: view.revision } : { revision: view.revision, origin: deps.origin });
  } catch (err) {
    return finish({ outcome: 'failed', config: null, reason: `render: ${describeError(err)}`, retry: false });
  }

  const held = guard.held.length > 0 ? { held: guard.held } : {};
  if (current !== null && deps.live.equivalent(current, next)) {
    const nothing = planOnly ? { plan: { plan: { runtimeOps: [], reloadReasons: [] }, fileChanges: false } } : {};
    return finish({ outcome: 'noop', config: current, retry: false, ...held, ...nothing });
  }

  // Server-only changes (the rest of the file identical) go to the Runtime API first and the checked
  // file follows in the lane: `haproxy -c` costs ~50 ms, the runtime ops a few. Anything else, a
  // runtime op that fails, or a one-shot run without a lane, takes the checked-file way below.
  if (
    lane !== null &&
    !planOnly &&
    current !== null &&
    deps.applier !== null &&
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
  if (deps.check === false && deps.applier === null) return finish({ outcome: 'noop', config: next, reason: 'dry run', retry: false });
  const check = await deps.live.check(next);
  if (!check.ok) {
    for (const d of check.diagnostics) logDiagnostic(log, d);
    // The runtime may hold servers that went ahead of a file that can never be written: match the disk.
    if (lane !== null && deps.applier !== null && current !== null) await deps.applier.reconcile(current, view.revision);
    return finish({ outcome: 'failed', config: null, reason: `haproxy -c rejected the rendered config: ${check.summary}`, retry: false });
  }
  if (deps.applier === null) {
    return finish({ outcome: 'noop', config: next, reason: 'dry run', retry: false, ...held });
  }
  if (planOnly) {
    const planned = deps.applier.plan === undefined ? { plan: { runtimeOps: [], reloadReasons: ['this applier cannot plan'] } } : await deps.applier.plan({ previous: current, next, revision: view.revision });
    return finish({ outcome: 'noop', config: next, reason: 'plan only', retry: false, ...held, plan: { ...planned, fileChanges: true } });
  }
  try {
    await deps.live.markUnconfirmed(current);
    await deps.live.commit(check);
  } catch (err) {
    return finish({ outcome: 'failed', config: null, reason: `write ${deps.live.path}: ${describeError(err)}`, retry: true });
  }
  const applied = await deps.applier.apply({ previous: current, next, revision: view.revision });
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
  return finish({ outcome: applied.outcome, config: next, retry: false, ...held });
}

/**
 * The writer of each single-writer service, from its etcd record (see {@link WriterElection}); the state
 * carries each one's server name for the renderer. A service its guard holds keeps the writer its file
 * has and proposes nothing: its nodes are the file's, named as servers, so the record's node id may match
 * none of them.
 */
async function placeWriters(
  state: ClusterState,
  view: SourceView,
  deps: SyncDeps,
  held: readonly HeldService[],
  current: string | null,
  log: Logger,
): Promise<{ state: ClusterState; writers: WriterStatus[] }> {
  const single = deps.services.filter((service) => service.writer === 'single');
  if (single.length === 0) return { state, writers: [] };
  const election = deps.writers ?? new WriterElection({ store: null, proxyId: '-', metrics: deps.metrics });
  const servers = new Map<string, string | null>();
  const writers: WriterStatus[] = [];
  for (const service of single) {
    const own = nodesOf(state, service.name, deps.services[0] === service);
    const isHeld = held.some((h) => h.service === service.name);
    const placed = await election.place(service, own, view, deps.applier, log, !isHeld);
    const status = isHeld ? { ...placed, server: fileWriter(current, service.name) } : placed;
    servers.set(service.name, status.server);
    writers.push(status);
  }
  return { state: { ...state, writers: servers }, writers };
}

/** The server a rendered file's write listener sends writes to (the one with a weight), or null. */
function fileWriter(config: string | null, listener: string): string | null {
  return parseServers(config ?? '').find((s) => s.backend === listener && s.weight > 0)?.name ?? null;
}

/**
 * Each service's own min-servers guard. A service below it keeps the servers the current file gives its
 * section (an etcd outage or a mass expiry of one tier must not empty it), while the other services go
 * on. With no current file there is nothing to keep: the state is null and the pass is held as a whole.
 */
export function applyGuards(services: readonly ServiceSpec[], state: ClusterState, current: string | null): { held: HeldService[]; state: ClusterState | null } {
  const held: HeldService[] = [];
  let nodes: GaleraNode[] = [...state.nodes];
  const listed = current === null ? null : parseServers(current);
  services.forEach((service, i) => {
    const own = nodesOf(state, service.name, i === 0);
    if (own.length >= service.minServers) return;
    const where = stripTrailingSlashes(service.prefix);
    const reason = `${own.length} valid node(s) under ${where}, fewer than --min-servers ${service.minServers}`;
    held.push({ service: service.name, reason, line: services.length > 1 ? `service ${service.name}: ${reason}` : reason });
    // A single writer's listener gives every server but the writer weight 0: a node's own weight is the
    // one its read listener carries, when the service has one.
    const readSection = service.writer === 'single' ? `${service.name}_read` : null;
    const readWeight = new Map((listed ?? []).filter((s) => s.backend === readSection).map((s) => [s.name, s.weight]));
    const kept: GaleraNode[] = (listed ?? [])
      .filter((s) => s.backend === service.name)
      .map((s) => ({ id: s.name, name: s.name, address: s.address, port: s.port, weight: readWeight.get(s.name) ?? s.weight, backup: s.backup, keys: [], service: service.name, ...(s.draining ? { draining: s.draining } : {}) }));
    nodes = [...nodes.filter((n) => !own.includes(n)), ...kept];
  });
  return { held, state: held.length > 0 && listed === null ? null : { ...state, nodes } };
}
