import { sleep } from '../lib/sleep.js';
import { describeError, ApplyError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { parseConfig, type ParsedConfig, type ParsedServer } from '../plan/parse-servers.js';
import { planChanges, changesServerList } from '../plan/plan-changes.js';
import { decideApply, type ApplyPolicy } from '../plan/apply-policy.js';
import { backendSizes, createCostRecorder, runtimeWork, type CostRecorder } from '../plan/apply-cost.js';
import { groupServerOptions, mergeServerOptions } from '../plan/server-options.js';
import type { Plan, RuntimeOp, RuntimeServer, ServerSpec } from '../plan/types.js';
import { AdminState, forcedOutOfRotation } from '../plan/admin-state.js';
import { createCommandReloader } from './command-reloader.js';
import { Drainer } from './drainer.js';
import { sendSocketBatch, sendSocketCommand } from './haproxy-socket.js';
import { DEFAULT_BATCH_LIMITS, describeFailures, runBatches, type BatchLimits, type BatchSend, type CommandGroup } from './runtime-batch.js';
import { createMasterCliReloader } from './master-cli-reloader.js';
import { commands, formatAddress, NO_SUCH_BACKEND, parseInfoPid, parseServersState, parseShowStat, runCommand, runCommands, type RuntimeCommand, type SocketSend } from './runtime-commands.js';
import { writeFileAtomic } from '../render/atomic-write.js';
import { buildServerState, stateFilePath } from './server-state-file.js';
import type { Applier, ApplyResult, Reloader } from './types.js';

export interface ApplierOptions {
  /** Admin stats socket of the workers (Runtime API). */
  readonly statsSocket: string;
  /** Master CLI socket (`haproxy -W -S <path>`): reloads go through it when set. */
  readonly masterSocket?: string;
  /** Reload command argv (no shell), used when no master socket is given. */
  readonly reloadCmd?: readonly string[];
  /** Reloads closer together than this wait (the change is kept, never dropped). */
  readonly minReloadIntervalMs: number;
  /** A removed server with sessions left is shut down after this long in drain. */
  readonly drainTimeoutMs: number;
  /** How long a reload may take to show a new worker with the expected servers. */
  readonly confirmTimeoutMs: number;
  readonly logger: Logger;
  /** Injected for tests; built from masterSocket / reloadCmd otherwise. */
  readonly reloader?: Reloader;
  /**
   * Apply server changes through the Runtime API. Off, every change is a confirmed reload (for an
   * HAProxy built without dynamic servers, or to compare both paths). @default true
   */
  readonly runtimeApi?: boolean;
  /**
   * Upper bound: a plan with more runtime ops than this is always carried by one reload. Below it, the
   * runtime or a reload is chosen by estimated cost (see plan/apply-cost.ts). @default DEFAULT_MAX_RUNTIME_OPS
   */
  readonly maxRuntimeOps?: number;
  /** The timings the choice is made from; the applier records its batches and reloads into it. @default a fresh one */
  readonly costs?: CostRecorder;
  /** Injected for tests; interactive-mode exchanges with `statsSocket` otherwise. */
  readonly sendBatch?: BatchSend;
  /** @default DEFAULT_BATCH_LIMITS */
  readonly batchLimits?: BatchLimits;
  /** Per-request socket timeout. @default 5000 */
  readonly socketTimeoutMs?: number;
  /** Injected for tests; requests to `statsSocket` otherwise. */
  readonly send?: SocketSend;
  /** How often draining servers are polled for sessions (one `show stat` for all). @default 100 */
  readonly drainPollMs?: number;
}

/** The default of `--max-runtime-ops`: far past any burst the runtime would lose to a reload. */
const DEFAULT_MAX_RUNTIME_OPS = 100_000;

/**
 * A batch connection's time limit: the socket timeout, plus 5 ms per line for HAProxy to run it (a
 * batched `add server` group takes well under 1 ms on an idle 2.6 or 3.0).
 */
const batchTimeoutMs = (socketTimeoutMs: number, lines: number): number => socketTimeoutMs + 5 * lines;

export interface RuntimeApplier extends Applier {
  settleDrains(): Promise<void>;
  draining(): string[];
  hurryDrains(): void;
}

const keyOf = (s: Pick<ServerSpec, 'backend' | 'name'>): string => `${s.backend}/${s.name}`;
const hasCheck = (options: readonly string[]): boolean => options.includes('check');

/**
 * default-server keywords that 2.6 refuses on `add server` ("'init-addr' option is not accepted for
 * dynamic server") and that mean nothing for a server added with an IP address: they only steer name
 * resolution at start-up. Each takes one argument.
 */
const START_UP_ONLY = new Set(['init-addr', 'resolvers', 'resolve-prefer', 'resolve-net', 'resolve-opts']);

/**
 * The keywords an `add server` needs: the proxy's default-server merged with the server's own. The
 * weight is left out: the command sets it (0 while the server earns its health), and a default-server
 * `weight` after it would win.
 */
export function dynamicServerOptions(defaults: readonly string[], own: readonly string[] = []): string[] {
  return groupServerOptions(mergeServerOptions(defaults, own))
    .filter((o) => !START_UP_ONLY.has(o.keyword) && o.keyword !== 'weight')
    .flatMap((o) => [o.keyword, ...o.args]);
}

function buildReloader(options: ApplierOptions): Reloader {
  if (options.reloader) return options.reloader;
  if (options.masterSocket !== undefined) {
    return createMasterCliReloader({ masterSocket: options.masterSocket, confirmTimeoutMs: options.confirmTimeoutMs, send: sendSocketCommand, logger: options.logger });
  }
  if (options.reloadCmd !== undefined) return createCommandReloader({ argv: options.reloadCmd, timeoutMs: options.confirmTimeoutMs });
  throw new ApplyError('RELOAD_FAILED', 'no way to reload HAProxy: give a master socket or a reload command');
}

/** Runtime API first, confirmed reload second; see `Applier`. Applies are serialised. */
export function createApplier(options: ApplierOptions): RuntimeApplier {
  const log = options.logger;
  const socketTimeoutMs = options.socketTimeoutMs ?? 5000;
  const send: SocketSend = options.send ?? ((command) => sendSocketCommand(options.statsSocket, command, { timeoutMs: socketTimeoutMs }));
  const sendBatch: BatchSend =
    options.sendBatch ?? ((lines) => sendSocketBatch(options.statsSocket, lines, { timeoutMs: batchTimeoutMs(socketTimeoutMs, lines.length) }));
  const reloader = buildReloader(options);
  const costs = options.costs ?? createCostRecorder();
  const policy = (): ApplyPolicy => ({
    runtimeApi: options.runtimeApi !== false,
    maxRuntimeOps: options.maxRuntimeOps ?? DEFAULT_MAX_RUNTIME_OPS,
    costs: costs.figures(),
    reloadWaitMs: Math.max(0, lastReloadAt + options.minReloadIntervalMs - Date.now()),
  });
  let desired = new Set<string>();
  let lastReloadAt = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const drainer = new Drainer({
    send,
    drainTimeoutMs: options.drainTimeoutMs,
    logger: log,
    isWanted: (key) => desired.has(key),
    ...(options.drainPollMs === undefined ? {} : { pollMs: options.drainPollMs }),
  });

  const readRuntime = async (): Promise<RuntimeServer[]> => {
    const [state, stat] = await Promise.all([send(commands.showServersState().text), send(commands.showStatServers().text)]);
    return parseServersState(state, parseShowStat(stat));
  };

  /** Commands that leave a freshly added (or re-created) server DOWN until its checks pass `rise` times. */
  const addCommands = (server: ParsedServer, defaults: readonly string[], keepUp: boolean): RuntimeCommand[] => {
    const opts = dynamicServerOptions(defaults, server.options);
    const earn = hasCheck(opts) && !keepUp;
    // With several threads, a connection can be routed between `enable server` and `health down`
    // (and is then cut by on-marked-down shutdown-sessions): weight 0 until the server is DOWN.
    const list = [commands.addServer(earn ? { ...server, weight: 0 } : server, opts)];
    if (hasCheck(opts)) list.push(commands.enableHealth(server));
    list.push(commands.enableServer(server));
    if (earn) list.push(commands.setHealth(server, 'down'), commands.setWeight(server));
    // A node that registers already draining (or is re-created while draining) never takes a new client.
    if (server.draining === true) list.push(commands.setState(server, 'drain'));
    return list;
  };

  /**
   * A server that replaces an UP one at the same address in the same backend (a node renamed, e.g. after
   * a change of naming scheme) is the same machine under a new name: it keeps serving instead of
   * earning its traffic again, or an upgrade that renames every server would leave none UP for rise × inter.
   */
  const endpointOf = (s: ServerSpec): string => `${s.backend} ${formatAddress(s.address, s.port)}`;

  /**
   * What the ops of one pass look things up in, built once: with 10,000 ops, a scan of every server per
   * op would cost more than the batches themselves.
   */
  interface OpContext {
    readonly next: ParsedConfig;
    readonly parsed: ReadonlyMap<string, ParsedServer>;
    readonly runtime: ReadonlyMap<string, RuntimeServer>;
    /** `backend address:port` of UP servers that are leaving (see `renamedFromUp`). */
    readonly upLeaving: ReadonlySet<string>;
  }

  const opContext = (next: ParsedConfig, runtime: ReadonlyMap<string, RuntimeServer>): OpContext => ({
    next,
    parsed: new Map(next.servers.map((s) => [keyOf(s), s])),
    runtime,
    upLeaving: new Set([...runtime].filter(([key, live]) => !desired.has(key) && live.operState === 2 && !forcedOutOfRotation(live)).map(([, live]) => endpointOf(live))),
  });

  const renamedFromUp = (server: ServerSpec, ctx: OpContext): boolean => ctx.upLeaving.has(endpointOf(server));

  /**
   * The commands of one op, run as one line of a batch; null for an op that cannot be batched
   * (`set-backup` waits for its sessions to close between `del server` and `add server`).
   */
  const opCommands = (op: RuntimeOp, ctx: OpContext): RuntimeCommand[] | null => {
    const key = keyOf(op.server);
    const parsed = ctx.parsed.get(key);
    const defaults = ctx.next.defaultServer.get(op.server.backend) ?? [];
    const checked = parsed !== undefined && hasCheck(mergeServerOptions(defaults, parsed.options));
    switch (op.op) {
      case 'add':
        // An add comes from a server of the next config, so it is always parsed.
        if (parsed === undefined) throw new ApplyError('RUNTIME_API', `add ${key}: not in the rendered config`);
        return addCommands(parsed, defaults, renamedFromUp(op.server, ctx));
      case 'remove':
        // Tracked by the drainer once the batch says it is in drain (a server it already drains is not
        // in the runtime the plan was made from, so it is never removed twice).
        return [commands.setState(op.server, 'drain')];
      case 'set-addr':
        // A new address is a new machine: it earns its traffic like a new server. As for `add`, weight 0
        // until it is DOWN: another thread could route a connection between `addr` and `health down`.
        return checked
          ? [commands.setWeight({ ...op.server, weight: 0 }), commands.setAddr(op.server), commands.setHealth(op.server, 'down'), commands.setWeight(op.server)]
          : [commands.setAddr(op.server)];
      case 'set-weight':
        return [commands.setWeight(op.server)];
      case 'set-backup':
        return null;
      case 'set-state': {
        if (op.state === 'ready') return [commands.setState(op.server, 'ready')];
        // `state drain` leaves a forced maintenance set by hand; `ready` first clears it, in the same line.
        const maint = ((ctx.runtime.get(key)?.adminState ?? 0) & AdminState.FMAINT) !== 0;
        return [...(maint ? [commands.setState(op.server, 'ready')] : []), commands.setState(op.server, 'drain')];
      }
      case 'shutdown-sessions':
        return [commands.shutdownSessions(op.server)];
      case 'repair':
        drainer.cancel(key);
        return [commands.setState(op.server, 'ready'), ...(checked ? [commands.enableHealth(op.server)] : [])];
    }
  };

  const switchBackup = async (server: ServerSpec, ctx: OpContext): Promise<void> => {
    const key = keyOf(server);
    const parsed = ctx.parsed.get(key);
    if (!parsed) return;
    const wasUp = ctx.runtime.get(key)?.operState === 2;
    drainer.cancel(key);
    await runCommands(send, [commands.setState(server, 'maint'), commands.shutdownSessions(server)]);
    await delWhenFree(server);
    // A healthy node changing role keeps serving; anything else earns its traffic again.
    await runCommands(send, addCommands(parsed, ctx.next.defaultServer.get(server.backend) ?? [], wasUp));
  };

  /**
   * Every op in pipelined batches (one line per server, many lines per connection), each reply checked
   * on its own; then the ops that cannot be batched, one by one. A refused command fails the apply with
   * the servers and HAProxy's words, after the rest of its batch went ahead: the caller puts the runtime
   * back in step (the checked file and, failing that, a reload), as for any failed runtime op.
   */
  const runOps = async (ops: readonly RuntimeOp[], next: ParsedConfig, runtime: ReadonlyMap<string, RuntimeServer>, revision: string): Promise<void> => {
    const ctx = opContext(next, runtime);
    const groups: (CommandGroup & { readonly op: RuntimeOp })[] = [];
    const later: RuntimeOp[] = [];
    for (const op of ops) {
      const list = opCommands(op, ctx);
      if (list === null) later.push(op);
      else groups.push({ label: keyOf(op.server), commands: list, op });
    }
    const started = performance.now();
    const outcome = await runBatches(sendBatch, groups, options.batchLimits ?? DEFAULT_BATCH_LIMITS);
    const ms = performance.now() - started;
    costs.recordRuntime(groups.length, runtimeWork(groups.map(({ op }) => ({ op: op.op, backend: op.server.backend })), backendSizes([...runtime.values()])), ms);
    log.debug({ revision, ops: groups.length, commands: outcome.commands, batches: outcome.batches, durationMs: Math.round(ms) }, 'runtime batch sent');
    for (const { op, label } of outcome.applied) {
      if (op.op === 'remove') drainer.track(op.server, revision);
      if (op.op === 'shutdown-sessions') {
        const sessions = runtime.get(label)?.sessions;
        log.info({ revision, server: label, sessions: sessions ?? null, reason: op.reason }, 'sessions left on the old writer shut down');
      } else log.debug({ revision, op: op.op, server: label }, 'runtime op applied');
    }
    if (outcome.failures.length > 0) throw new ApplyError('RUNTIME_API', describeFailures(outcome.failures), { retryable: false });
    for (const op of later) {
      await switchBackup(op.server, ctx);
      log.debug({ revision, op: op.op, server: keyOf(op.server) }, 'runtime op applied');
    }
  };

  const delWhenFree = async (server: ServerSpec): Promise<void> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await runCommands(send, [commands.delServer(server)]);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(50);
      }
    }
  };

  const workerPid = async (): Promise<number | null> => {
    try {
      return parseInfoPid(await send(commands.showInfo().text));
    } catch {
      return null;
    }
  };

  /** Dumps the running states into the state file, reloads, and waits for a new worker running `next`. */
  const reload = async (reasons: readonly string[], nextConfig: string, next: ParsedConfig, revision: string): Promise<void> => {
    const wait = lastReloadAt + options.minReloadIntervalMs - Date.now();
    if (wait > 0) {
      log.info({ revision, waitMs: wait }, 'waiting for the minimum gap between reloads');
      await sleep(wait);
    }
    const statePath = stateFilePath(next);
    if (statePath !== null) {
      let states: string;
      try {
        states = await runCommand(send, commands.showServersState());
      } catch (err) {
        // The file on disk holds older states: the new worker would start nodes UP that are down now.
        throw new ApplyError('RUNTIME_API', `cannot dump the server states before reloading, so not reloading: ${describeError(err)}`, { cause: err, retryable: true });
      }
      try {
        // Atomic, so a reload never reads half a state file.
        await writeFileAtomic(statePath, buildServerState(states, next), { mode: 0o600 });
      } catch (err) {
        log.warn({ revision, statePath, err: describeError(err) }, 'could not write the server state file; new servers may start UP');
      }
    }
    const pidBefore = await workerPid();
    lastReloadAt = Date.now();
    const started = performance.now();
    await reloader.reload(reasons.join('; '));
    drainer.cancelAll();
    await confirmRuntime(nextConfig, pidBefore);
    costs.recordReload(performance.now() - started, next.servers.length);
  };

  /** The stats socket answers from a new worker and lists exactly the servers of `config`. */
  const confirmRuntime = async (config: string, pidBefore: number | null): Promise<void> => {
    const deadline = Date.now() + options.confirmTimeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      const pid = await workerPid();
      if (pid !== null && (pidBefore === null || pid !== pidBefore)) {
        try {
          const plan = planChanges({ previousConfig: config, nextConfig: config, runtime: await readRuntime() });
          // Admin states come from the state file, or the next pass and the drift repair, and sessions are
          // the old worker's: not a reason to wait.
          const missing = plan.runtimeOps.filter(changesServerList);
          if (missing.length === 0) return;
          last = missing.map((op) => `${op.op} ${keyOf(op.server)}`).join(', ');
        } catch (err) {
          last = describeError(err);
        }
      } else {
        last = `worker pid still ${String(pid)}`;
      }
      await sleep(50);
    }
    throw new ApplyError('RELOAD_FAILED', `HAProxy did not confirm the new config within ${options.confirmTimeoutMs} ms: ${last}`);
  };

  const applyOnce = async (previous: string | null, nextConfig: string, revision: string, allowReload = true, reloadReason?: string): Promise<ApplyResult> => {
    const started = performance.now();
    const next = parseConfig(nextConfig);
    desired = new Set(next.servers.map(keyOf));
    const result = (outcome: ApplyResult['outcome'], plan: Plan, fellBackToReload: boolean, error?: Error): ApplyResult => ({
      outcome,
      plan,
      fellBackToReload,
      durationMs: performance.now() - started,
      ...(error ? { error } : {}),
    });

    let runtime: RuntimeServer[] | null = null;
    let unreadable: unknown = null;
    try {
      // Servers this applier is draining are on their way out: they are not drift.
      runtime = (await readRuntime()).filter((s) => !(drainer.has(keyOf(s)) && !desired.has(keyOf(s))));
    } catch (err) {
      unreadable = err;
    }
    const planned = planChanges({ previousConfig: previous, nextConfig, runtime });
    const plan = runtime === null ? planned : decideApply(planned, runtime, policy(), reloadReason);
    if (plan.decision !== undefined && plan.reloadReasons.length === 0) {
      // One line per decision (a reload's reasons, the cost among them, go on the reload's own line); a
      // single node joining is not worth an info line, a burst is.
      const line = { revision, ops: plan.runtimeOps.length, decision: plan.decision };
      if (plan.runtimeOps.length >= 20) log.info(line, plan.decision);
      else log.debug(line, plan.decision);
    }
    if (runtime === null) {
      // A reload needs the stats socket twice: to dump the states the new worker starts from (without
      // them, a stale state file brings dead or donor nodes up) and to confirm the new worker. So no
      // reload, even one the structure asks for: the pass fails as retryable and comes back.
      log.warn({ revision, reasons: plan.reloadReasons, err: describeError(unreadable) }, 'cannot read the runtime state; not applying until it can be read');
      return result('failed', plan, false, new ApplyError('RUNTIME_API', `cannot read the runtime state: ${describeError(unreadable)}`, { cause: unreadable, retryable: true }));
    }
    if (plan.runtimeOps.length === 0 && plan.reloadReasons.length === 0) return result('noop', plan, false);

    let reasons = plan.reloadReasons;
    let fellBack = false;
    if (!allowReload && reasons.length > 0) {
      return result('failed', plan, false, new ApplyError('RELOAD_FAILED', `needs a reload: ${reasons.join('; ')}`));
    }
    if (reasons.length === 0) {
      const live = new Map(runtime.map((s) => [keyOf(s), s]));
      try {
        await runOps(plan.runtimeOps, next, live, revision);
        return result('runtime', plan, false);
      } catch (err) {
        if (!allowReload) {
          log.warn({ revision, err: describeError(err) }, 'runtime op failed; the change goes the checked-file way');
          return result('failed', plan, false, err instanceof Error ? err : new ApplyError('RUNTIME_API', describeError(err)));
        }
        log.error({ revision, err: describeError(err) }, 'runtime op failed; falling back to a reload');
        reasons = [`runtime op failed: ${describeError(err)}`];
        fellBack = true;
      }
    }
    try {
      log.info({ revision, reasons }, 'reloading HAProxy');
      await reload(reasons, nextConfig, next, revision);
      log.info({ revision, durationMs: Math.round(performance.now() - started) }, 'reload confirmed');
      return result('reload', plan, fellBack);
    } catch (err) {
      const error = err instanceof Error ? err : new ApplyError('RELOAD_FAILED', describeError(err));
      log.error({ revision, err: describeError(err) }, 'reload failed; the previous worker keeps serving');
      return result('failed', plan, fellBack, error);
    }
  };

  const serialised = <T>(task: () => Promise<T>): Promise<T> => {
    const run = chain.then(task, task);
    chain = run.catch(() => undefined);
    return run;
  };

  return {
    plan: async (input) => {
      let runtime: RuntimeServer[];
      try {
        runtime = (await readRuntime()).filter((s) => !(drainer.has(keyOf(s)) && !desired.has(keyOf(s))));
      } catch (err) {
        return { plan: planChanges({ previousConfig: input.previous, nextConfig: input.next, runtime: null }), runtimeError: describeError(err) };
      }
      return { plan: decideApply(planChanges({ previousConfig: input.previous, nextConfig: input.next, runtime }), runtime, policy(), input.reloadReason) };
    },
    apply: (input) => serialised(() => applyOnce(input.previous, input.next, input.revision, input.allowReload ?? true, input.reloadReason)),
    runtime: async (backend?: string) => {
      try {
        if (backend === undefined) return await readRuntime();
        const show = commands.showServersState(backend);
        const reply = await send(show.text);
        // A section not in HAProxy yet (a new service before its reload) has no servers running.
        if (reply.trim() === NO_SUCH_BACKEND) return [];
        return show.ok(reply.trim()) ? parseServersState(reply) : null;
      } catch {
        return null;
      }
    },
    // Same structure on both sides: only runtime differences remain, and those are repaired.
    reconcile: (config, revision) => serialised(() => applyOnce(config, config, revision)),
    settleDrains: () => drainer.settle(),
    draining: () => drainer.keys(),
    hurryDrains: () => drainer.hurry(),
  };
}
