import type { ClusterSource, SourceView } from '../source/types.js';
import type { ClusterState } from '../model/types.js';
import { Quiescence, systemClock, type Clock, type Wait } from '../plan/quiescence.js';
import { describeError } from '../errors.js';
import { Backoff } from '../lib/backoff.js';
import { syncToView, type SyncDeps, type SyncResult } from './sync-pass.js';
import { FileLane } from './file-lane.js';

const WRITER_CHECK_MS = 1000;
/**
 * A seed node's `port` put follows its `ip` put by a few ms; a pass that saw only the `ip` holds the
 * node back (decodeCluster `portMayFollowAfter`) and this pass, if etcd stays quiet, adds it on the
 * default port. Long enough for the `port` put to land, short enough that a node that never writes one
 * is served at once.
 */
const SETTLE_MS = 100;

export interface WatchLoopOptions {
  readonly wait: Wait;
  /** How often to compare HAProxy's runtime with the file and repair drift; 0 disables. */
  readonly repairMs: number;
  /** Backoff for retryable failures (HAProxy socket gone, reload not confirmed). */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** How often a pass runs to resolve host names again while nodes are registered by name; 0 disables. */
  readonly resolveMs?: number;
}

/**
 * The daemon's loop and nothing else: source events in, one sync pass at a time, retries with backoff,
 * periodic drift repair. An idle loop starts a pass on the first event; events that arrive during a pass,
 * or within `--wait` MIN after one, are folded into the next pass ({@link Quiescence}).
 */
export class WatchLoop {
  private readonly quiescence: Quiescence;
  private deps: SyncDeps;
  private readonly lane: FileLane;
  private latest: SourceView | null = null;
  private previousState: ClusterState | null = null;
  /** The revision {@link previousState} was decoded at. */
  private previousRevision: string | null = null;
  /** Revision of the last pass that brought HAProxy somewhere; drift repair starts after the first. */
  private appliedRevision: string | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private retryBackoff: Backoff;
  private retryTimer: unknown = null;
  private repairTimer: unknown = null;
  private writerTimer: unknown = null;
  private resolveTimer: unknown = null;
  private settleTimer: unknown = null;
  private handoverTimer: unknown = null;
  private stopped = false;
  private readonly passListeners: ((result: SyncResult) => void)[] = [];

  constructor(
    private readonly source: ClusterSource,
    deps: SyncDeps,
    private readonly options: WatchLoopOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.lane = new FileLane(deps.live, deps.logger, () => this.poke());
    this.deps = { ...deps, lane: this.lane };
    this.quiescence = new Quiescence(options.wait, () => this.kick(), clock);
    this.retryBackoff = new Backoff({ initialMs: options.retryMinMs, maxMs: options.retryMaxMs, jitter: 'twenty-percent' });
  }

  /** Subscribes to the result of every pass (tests, the status endpoint). */
  onPass(listener: (result: SyncResult) => void): void {
    this.passListeners.push(listener);
  }

  async start(): Promise<void> {
    await this.source.start({
      onChange: (view) => {
        this.latest = view;
        this.quiescence.poke();
      },
      onHealth: (health) => {
        if (health.lastHeardAt !== null) this.deps.metrics.etcdLastHeard.set(health.lastHeardAt / 1000);
        if (health.revision !== null) this.deps.metrics.etcdRevision.set(Number(health.revision));
      },
    });
    if (this.latest === null) {
      this.deps.logger.warn({ config: this.deps.live.path }, 'no snapshot from etcd yet: HAProxy keeps the config on disk until etcd answers');
    }
    this.scheduleRepair();
    this.scheduleWriterCheck();
    this.scheduleResolve();
  }

  /**
   * Swaps the services (an edited config file) and asks for a pass. A pass running now finishes with the
   * services it started with; the next one uses these.
   */
  setServices(services: SyncDeps['services']): void {
    this.deps = { ...this.deps, services };
    if (this.writerTimer === null) this.scheduleWriterCheck();
    this.poke();
  }

  /** Asks for a pass over the latest view, e.g. after the template file changed. */
  poke(): void {
    if (this.latest !== null) this.quiescence.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.quiescence.cancel();
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    if (this.repairTimer !== null) this.clock.clearTimeout(this.repairTimer);
    if (this.writerTimer !== null) this.clock.clearTimeout(this.writerTimer);
    if (this.resolveTimer !== null) this.clock.clearTimeout(this.resolveTimer);
    if (this.settleTimer !== null) this.clock.clearTimeout(this.settleTimer);
    if (this.handoverTimer !== null) this.clock.clearTimeout(this.handoverTimer);
    await this.running;
    await this.lane.settle();
    await this.source.close();
  }

  private kick(): void {
    if (this.stopped || this.latest === null) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const view = this.latest;
    void this.occupy(() => this.pass(view), true);
  }

  /**
   * One pass or repair at a time. A kick (retry, settle) that came meanwhile gets a pass right after;
   * changes that came meanwhile are the quiescence's to schedule.
   */
  private occupy(work: () => Promise<void>, withChanges: boolean): Promise<void> {
    this.quiescence.begin(withChanges);
    this.running = work().finally(() => {
      this.running = null;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.kick();
      }
      if (this.running === null) this.quiescence.end();
    });
    return this.running;
  }

  private async pass(view: SourceView): Promise<void> {
    let result: SyncResult;
    try {
      result = await syncToView(view, this.previousState, this.deps, this.previousRevision);
    } catch (err) {
      // A bug or an unexpected I/O error: keep the daemon alive and try again later.
      this.deps.logger.error({ revision: view.revision, err: describeError(err) }, 'sync pass threw; will retry');
      this.scheduleRetry();
      return;
    }
    this.previousState = result.state;
    this.previousRevision = result.revision;
    if (result.state.settleSoon === true) this.scheduleSettle();
    const hold = Math.min(...(result.writers ?? []).map((w) => w.holdMs).filter((ms) => ms > 0));
    if (Number.isFinite(hold)) this.scheduleHandover(hold);
    if (result.config !== null && result.outcome !== 'failed') this.appliedRevision = result.revision;
    for (const listener of this.passListeners) listener(result);
    if (result.retry) this.scheduleRetry();
    else this.retryBackoff = this.retryBackoff.reset();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer !== null) return;
    const delay = this.retryBackoff.duration;
    this.retryBackoff = this.retryBackoff.next();
    this.deps.logger.info({ inMs: delay }, 'retrying sync');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, delay);
  }

  /** The pass that lets a new single writer in once its handover is over (see WriterElection). */
  private scheduleHandover(ms: number): void {
    if (this.stopped || this.handoverTimer !== null) return;
    this.handoverTimer = this.clock.setTimeout(() => {
      this.handoverTimer = null;
      this.kick();
    }, ms);
  }

  private scheduleSettle(): void {
    if (this.stopped || this.settleTimer !== null) return;
    this.settleTimer = this.clock.setTimeout(() => {
      this.settleTimer = null;
      this.kick();
    }, SETTLE_MS);
  }

  private scheduleRepair(): void {
    if (this.stopped || this.options.repairMs <= 0) return;
    this.repairTimer = this.clock.setTimeout(() => {
      this.repairTimer = null;
      void this.repairDrift().finally(() => this.scheduleRepair());
    }, this.options.repairMs);
  }

  private async repairDrift(): Promise<void> {
    if (this.deps.applier === null || this.appliedRevision === null || this.running) return;
    // Drift repair takes the same slot as a pass, so the two never talk to HAProxy at once.
    const { applier } = this.deps;
    const revision = this.appliedRevision;
    await this.occupy(() => this.repair(applier, revision), false);
  }

  /**
   * A single writer that failed its check in this HAProxy is not an etcd event: a pass every second
   * looks at the writer's health here (two socket requests and a render of a handful of nodes) and, when
   * it is DOWN, proposes the next writer through the etcd record.
   */
  private scheduleWriterCheck(): void {
    if (this.stopped || !this.deps.services.some((s) => s.writer === 'single')) return;
    this.writerTimer = this.clock.setTimeout(() => {
      this.writerTimer = null;
      this.poke();
      this.scheduleWriterCheck();
    }, WRITER_CHECK_MS);
  }

  /** A DNS change is no etcd event: while names are registered, a pass looks them up again (noop if unchanged). */
  private scheduleResolve(): void {
    const every = this.options.resolveMs ?? 0;
    if (this.stopped || every <= 0 || this.deps.hosts === undefined) return;
    this.resolveTimer = this.clock.setTimeout(() => {
      this.resolveTimer = null;
      if (this.deps.hosts?.hasNames() === true) this.poke();
      this.scheduleResolve();
    }, every);
  }

  private async repair(applier: NonNullable<SyncDeps['applier']>, revision: string): Promise<void> {
    // The text the file holds, or the one the lane is writing (the runtime already has it). Never the
    // last pass's text: the lane may have refused it, and repair would put its servers back.
    let config: string | null;
    try {
      config = this.lane.latest() ?? (await this.deps.live.read());
    } catch (err) {
      this.deps.logger.error({ revision, config: this.deps.live.path, err: describeError(err) }, 'drift repair cannot read the file');
      return;
    }
    if (config === null) return;
    const result = await applier.reconcile(config, revision);
    if (result.outcome === 'failed') {
      this.deps.logger.error({ revision, err: result.error ? describeError(result.error) : undefined }, 'drift repair failed');
    } else if (result.plan.runtimeOps.length > 0 || result.plan.reloadReasons.length > 0) {
      this.deps.logger.warn({ revision, ops: result.plan.runtimeOps.length, reasons: result.plan.reloadReasons }, 'HAProxy had drifted from the config; repaired');
    }
  }
}
