/**
 * Runtime API or reload, by what each would cost now. The daemon times its own work (each runtime
 * batch, each `haproxy -c`, each reload until the new worker is confirmed) and keeps the recent figures
 * here; `estimateCosts` turns them into an estimate for one change, and `chooseApplyWay` decides. Pure:
 * no clock, no I/O, so `plan` and the applier reach the same decision from the same figures.
 */

/** One timing and the size of the config it was taken on. */
export interface CostSample {
  readonly ms: number;
  /** Servers in the file (check, reload) the timing was taken on. */
  readonly servers: number;
}

export interface CostFigures {
  /**
   * Milliseconds per unit of runtime work (see `runtimeWork`: one op in a backend of at most 1000
   * servers) of the recent batches large enough to tell, newest last.
   */
  readonly msPerWork: readonly number[];
  /** The last `haproxy -c`. */
  readonly check: CostSample | null;
  /** The last reload: master CLI `reload` until the new worker lists the expected servers. */
  readonly reload: CostSample | null;
}

export interface CostEstimate {
  readonly runtimeMs: number;
  readonly reloadMs: number;
}

/**
 * Per unit of work before any batch was timed. A batched new server (5 commands) measured 0.1–0.17 ms
 * in a backend of 1,000 and 2 ms in one of 10,000 on a busy 2-core machine (bench/runtime-batch.ts):
 * about 0.2 ms per 1,000 servers. The default is a few times that, so an unmeasured daemon leans to
 * the reload only where the runtime would clearly lose.
 */
export const DEFAULT_MS_PER_WORK = 0.5;
/** A reload before any was timed: a new worker parses the file, starts, and is confirmed. */
export const DEFAULT_RELOAD_MS = 1000;
/**
 * HAProxy finds a server named in a command by walking its backend's list (2.6 and 3.0 alike), and
 * `add server` walks it too: a command costs in proportion to the servers of its backend, so 10,000
 * servers added to one backend cost 100 times what 1,000 do, not 10. Below this many servers the
 * walk is lost in the fixed cost of a command.
 */
const WORK_FIXED_SERVERS = 1000;

/**
 * The work of `ops` run in order, each counted as the size of its backend when it runs (an `add` grows
 * it) over `WORK_FIXED_SERVERS`, never less than 1: the unit is one op in a backend of 1,000 servers.
 */
export function runtimeWork(ops: readonly { readonly op: string; readonly backend: string }[], sizes: ReadonlyMap<string, number>): number {
  const size = new Map(sizes);
  let work = 0;
  for (const { op, backend } of ops) {
    const now = size.get(backend) ?? 0;
    work += Math.max(now, WORK_FIXED_SERVERS) / WORK_FIXED_SERVERS;
    if (op === 'add') size.set(backend, now + 1);
  }
  return work;
}

/** Servers per backend, for `runtimeWork`. */
export function backendSizes(servers: readonly { readonly backend: string }[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const s of servers) sizes.set(s.backend, (sizes.get(s.backend) ?? 0) + 1);
  return sizes;
}

/** Batches with fewer ops are dominated by the connection's round trip: they say little per op. */
const MIN_OPS_PER_SAMPLE = 20;
/** Recent figures kept; the estimate is their median, so one slow batch does not flip the way. */
const WORK_SAMPLES = 5;
/**
 * The part of a check or start that does not grow with the file, counted in servers: a 3-server file's
 * 40 ms is mostly start-up, and scaling it per server would promise a 10,000-server reload of minutes.
 */
const FIXED_COST_SERVERS = 1000;

/** Adds a runtime batch's timing (ops, their work, whole duration) to the figures; small batches are left out. */
export function withRuntimeSample(figures: CostFigures, ops: number, work: number, ms: number): CostFigures {
  if (ops < MIN_OPS_PER_SAMPLE || !(work > 0) || !(ms >= 0)) return figures;
  return { ...figures, msPerWork: [...figures.msPerWork, ms / work].slice(-WORK_SAMPLES) };
}

export const NO_FIGURES: CostFigures = { msPerWork: [], check: null, reload: null };

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

/** A timing taken on `sample.servers` servers, for a file of `servers`: grows with the file, never shrinks. */
const scaled = (sample: CostSample, servers: number): number =>
  sample.ms * Math.max(1, (servers + FIXED_COST_SERVERS) / (sample.servers + FIXED_COST_SERVERS));

/**
 * Runtime ops of `work` (see `runtimeWork`) against a reload of a file of `servers` servers, plus
 * `reloadWaitMs` (the minimum gap to the previous reload still to run). A reload is a check and a
 * start; with only a check timed, the start is taken to cost as much (the new worker parses the same
 * file, then starts).
 */
export function estimateCosts(figures: CostFigures, work: number, servers: number, reloadWaitMs = 0): CostEstimate {
  const perWork = figures.msPerWork.length === 0 ? DEFAULT_MS_PER_WORK : median(figures.msPerWork);
  const check = figures.check === null ? null : scaled(figures.check, servers);
  const start = figures.reload === null ? check : scaled(figures.reload, servers);
  const reloadMs = check === null && start === null ? DEFAULT_RELOAD_MS : (check ?? 0) + (start ?? 0);
  return { runtimeMs: work * perWork, reloadMs: reloadMs + Math.max(0, reloadWaitMs) };
}

/** `600 ms`, `3.1 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export interface ApplyWay {
  readonly way: 'runtime' | 'reload';
  /** One line for the log, e.g. `runtime: 10000 ops est. 600 ms < reload est. 3.1 s`. */
  readonly reason: string;
}

/**
 * The cheaper way for `ops` server changes. `maxRuntimeOps` is the operator's upper bound: more ops than
 * that always reload, whatever the estimate. A tie goes to the runtime, which keeps every session.
 */
export function chooseApplyWay(ops: number, estimate: CostEstimate, maxRuntimeOps: number): ApplyWay {
  if (ops > maxRuntimeOps) return { way: 'reload', reason: `reload: ${ops} ops > --max-runtime-ops ${maxRuntimeOps}` };
  const runtime = `${ops} ops est. ${formatMs(estimate.runtimeMs)}`;
  const reload = `reload est. ${formatMs(estimate.reloadMs)}`;
  if (estimate.runtimeMs <= estimate.reloadMs) {
    return { way: 'runtime', reason: `runtime: ${runtime} ${estimate.runtimeMs < estimate.reloadMs ? '<' : '='} ${reload}` };
  }
  return { way: 'reload', reason: `reload: ${runtime} > ${reload}` };
}

/** The figures of one daemon, updated as it times its work (the only state here; still no I/O). */
export interface CostRecorder {
  figures(): CostFigures;
  recordRuntime(ops: number, work: number, ms: number): void;
  recordCheck(ms: number, servers: number): void;
  recordReload(ms: number, servers: number): void;
}

export function createCostRecorder(initial: CostFigures = NO_FIGURES): CostRecorder {
  let figures = initial;
  return {
    figures: () => figures,
    recordRuntime: (ops, work, ms) => (figures = withRuntimeSample(figures, ops, work, ms)),
    recordCheck: (ms, servers) => (figures = { ...figures, check: { ms, servers } }),
    recordReload: (ms, servers) => (figures = { ...figures, reload: { ms, servers } }),
  };
}
