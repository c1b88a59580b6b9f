import { EtcdInvalidAuthTokenError, type Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { describeError } from '../errors.js';
import { sleep } from '../lib/sleep.js';
import type { KeyValue } from '../model/types.js';
import { HealthTracker } from './etcd-health.js';
import { lazyView } from './source-view.js';
import type { Logger } from '../observe/logger.js';
import { Backoff } from '../lib/backoff.js';
import { explainUnreachable, toSourceError } from './etcd-errors.js';
import { describeEtcdOptions, type EtcdSourceOptions } from './etcd-options.js';
import { RepeatLimiter } from './repeat-limiter.js';
import { createEtcdClient, invalidateAuthToken } from './etcd-writer.js';
import { isEmptyDiff, KeyMirror, listUnexplained, type MirrorEvent } from './key-mirror.js';
import { WatchLiveness } from './watch-liveness.js';
import type { SourceHealth, SourceListener, SourceView } from './types.js';
import type { EtcdClusterSource, EtcdSourceDeps, EtcdSourceStats } from './etcd-source-types.js';

export type { EtcdClusterSource, EtcdSourceDeps, EtcdSourceStats } from './etcd-source-types.js';

const decode = (kv: IKeyValue): KeyValue => ({
  key: kv.key.toString('utf8'),
  value: kv.value.toString('utf8'),
  createRevision: BigInt(kv.create_revision),
  modRevision: BigInt(kv.mod_revision),
});

/** How long `close()` waits for etcd to acknowledge the watch cancel (which ends the stream). */
const CLOSE_CANCEL_MS = 300;

/** How often the mirror is polled while a resync waits for the watch to deliver newer events. */
const RESYNC_POLL_MS = 50;
/** A warning that keeps repeating is summarised with its count at most this often. */
const REPEAT_WINDOW_MS = 30_000;

interface Snapshot {
  readonly kvs: KeyValue[];
  readonly revision: bigint;
  /** Each key's `mod_revision`, to tell writes newer than the mirror from ones it missed. */
  readonly modRevisions: ReadonlyMap<string, bigint>;
}

/**
 * Mirrors every key under `options.prefix`: one range read at a single revision, then a watch from
 * revision + 1 that etcd3 reconnects after drops (resuming from our own revision, see `onDisconnected`).
 * A cancelled watch (compaction, or etcd refusing it) leads to a fresh snapshot that is reconciled
 * against the mirror, deletes included. Views are only emitted from successful reads, so an outage
 * never looks like "every node left". The heartbeat also checks that the watch is attached and
 * delivering (see `WatchLiveness`), and that etcd's revision never went backwards (a restore).
 */
export function createEtcdSource(options: EtcdSourceOptions, logger: Logger, deps: EtcdSourceDeps = {}): EtcdClusterSource {
  return new EtcdSource(options, logger.child({ component: 'etcd-source' }), deps.client ?? createEtcdClient(options), deps);
}

/** Long enough for etcd3 to re-attach a dropped watch on its own (its backoff), never under 1 s. */
function watchGraceMs(options: EtcdSourceOptions): number {
  return Math.max(1000, 2 * options.backoff.maxMs);
}

class EtcdSource implements EtcdClusterSource {
  private readonly mirror = new KeyMirror();
  private readonly rangeStart: string;
  private readonly tracker: HealthTracker;
  private readonly liveness: WatchLiveness;
  private listener: SourceListener | null = null;
  private watcher: Watcher | null = null;
  /** Bumped on every new watcher so late events of a discarded one are ignored. */
  private generation = 0;
  private closed = false;
  private started = false;
  private recovering: Promise<void> | null = null;
  /** Aborted by `close()`, so every wait of the source ends at once. */
  private readonly closing = new AbortController();
  private readonly repeats = new RepeatLimiter(REPEAT_WINDOW_MS);
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private watchConnected = false;
  private haveSnapshot = false;
  /** Watch responses received, so a resync can tell a moving watch from a stuck one. */
  private deliveries = 0;
  private counters = { resnapshots: 0, resyncDifferences: 0, watchDisconnects: 0, watchRebuilds: 0, revisionRewinds: 0 };

  constructor(
    private readonly options: EtcdSourceOptions,
    private readonly logger: Logger,
    private client: Etcd3,
    private readonly deps: EtcdSourceDeps,
  ) {
    this.liveness = new WatchLiveness(watchGraceMs(options));
    // The trailing slash keeps `/components/galera2` out of `/components/galera`.
    this.rangeStart = `${options.prefix}/`;
    this.tracker = new HealthTracker(
      logger,
      options.staleAfterMs,
      () => (this.haveSnapshot ? this.mirror.revision.toString() : null),
      (health) => this.listener?.onHealth?.(health),
      Date.now,
      () => this.liveness.state(),
    );
  }

  async readOnce(): Promise<SourceView> {
    const { kvs, revision } = await this.readSnapshot();
    return { revision: revision.toString(), kvs, cause: 'snapshot' };
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.started) throw new Error('etcd source already started');
    this.started = true;
    this.listener = listener;
    this.logger.info({ etcd: describeEtcdOptions(this.options) }, 'etcd source starting');
    const first = this.recover('snapshot');
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatIntervalMs);
    if (this.options.resyncIntervalMs > 0) {
      this.resyncTimer = setInterval(() => void this.resyncNow(), this.options.resyncIntervalMs);
    }
    // A sleep of the source's own, so `close()` ends the wait at once.
    const timedOut = await Promise.race([first.then(() => false), this.sleep(this.options.startTimeoutMs).then(() => true)]);
    if (timedOut && !this.haveSnapshot && !this.closed) {
      this.logger.warn(
        { waitedMs: this.options.startTimeoutMs, error: this.tracker.error },
        'etcd not readable yet; keeping the last config on disk and retrying in the background',
      );
    }
  }

  health(): SourceHealth {
    return this.tracker.current();
  }

  stats(): EtcdSourceStats {
    return { eventsApplied: this.mirror.eventsApplied, ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.resyncTimer !== null) clearInterval(this.resyncTimer);
    this.closing.abort();
    // Reads in flight are not waited for, and the watch cancel only briefly: against an unreachable
    // etcd either would hold up shutdown for seconds.
    const cancelled = this.forgetWatcher();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cancelled, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_CANCEL_MS)))]);
    clearTimeout(timer);
    this.client.close();
    this.tracker.set(false);
  }

  async resyncNow(): Promise<boolean> {
    if (this.closed || !this.haveSnapshot || this.recovering !== null) return true;
    const deliveriesAtStart = this.deliveries;
    try {
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const mirrorRevision = this.mirror.revision;
        // The latest state: a read at the mirror's own revision would agree with a mirror whose watch
        // stopped delivering, however far etcd has moved on since.
        const latest = await this.readSnapshot();
        if (this.closed || this.recovering !== null) return true;
        if (this.rewound(latest.revision, 'resync')) return false;
        if (this.mirror.revision !== mirrorRevision) continue;
        const diff = this.mirror.diff(latest.kvs);
        if (isEmptyDiff(diff)) {
          this.logger.debug({ revision: mirrorRevision.toString(), etcdRevision: latest.revision.toString(), keys: latest.kvs.length }, 'resync: mirror matches etcd');
          return true;
        }
        const unexplained = listUnexplained(diff, latest.modRevisions, mirrorRevision, latest.revision);
        if (unexplained.length === 0) {
          if (this.deliveries !== deliveriesAtStart) return true;
          // Writes newer than the mirror: a live watch delivers them within moments.
          if (attempt === 1 && (await this.waitForMirror(latest.revision))) return true;
          if (attempt === 1) continue;
        }
        this.counters.resyncDifferences += 1;
        this.logger.warn(
          { revision: mirrorRevision.toString(), etcdRevision: latest.revision.toString(), unexplained, ...diff },
          'resync found the mirror behind etcd and the watch not delivering; rebuilding the watch',
        );
        await this.rebuildWatch('snapshot', 'resync');
        return false;
      }
      return true;
    } catch (err) {
      if (this.closed) return true;
      this.logger.warn({ error: describeError(toSourceError(err, 'resync')) }, 'resync could not read etcd');
      return false;
    }
  }

  /** Resolves true once the mirror reaches `revision` (or moves at all), false after the watch grace. */
  private async waitForMirror(revision: bigint): Promise<boolean> {
    const deliveries = this.deliveries;
    const deadline = Date.now() + watchGraceMs(this.options);
    while (!this.closed && Date.now() < deadline) {
      if (this.mirror.revision >= revision || this.deliveries !== deliveries) return true;
      await this.sleep(RESYNC_POLL_MS);
    }
    return false;
  }

  private async readSnapshot(): Promise<Snapshot> {
    try {
      const res = await this.client.getAll().prefix(this.rangeStart).exec();
      this.tracker.heard();
      const modRevisions = new Map(res.kvs.map((kv) => [kv.key.toString('utf8'), BigInt(kv.mod_revision)]));
      return { kvs: res.kvs.map(decode), revision: BigInt(res.header.revision), modRevisions };
    } catch (err) {
      throw toSourceError(err, `reading ${this.rangeStart} from etcd`);
    }
  }

  /** Snapshot (retried with backoff until it works or the source closes), then a watch from revision + 1. */
  private recover(cause: 'snapshot' | 'recovery' | 'resync'): Promise<void> {
    if (this.recovering !== null) return this.recovering;
    const run = async (): Promise<void> => {
      let backoff = new Backoff({ ...this.options.backoff, jitter: 'half-initial' });
      let attempts = 0;
      while (!this.closed) {
        try {
          const snapshot = await this.settleOrNull(this.readSnapshot());
          if (this.closed) return;
          if (snapshot === null) {
            this.logger.warn({ waitedMs: this.options.requestTimeoutMs + 1000 }, 'etcd read never settled; new client');
            this.replaceClient();
            continue;
          }
          this.installSnapshot(snapshot.kvs, snapshot.revision, cause);
          this.createWatcher();
          return;
        } catch (err) {
          if (this.closed) return;
          attempts += 1;
          this.recordError(err, attempts);
          await this.sleep(backoff.duration);
          backoff = backoff.next();
        }
      }
    };
    this.recovering = run().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  private installSnapshot(kvs: KeyValue[], revision: bigint, cause: 'snapshot' | 'recovery' | 'resync'): void {
    const first = !this.haveSnapshot;
    const previous = this.mirror.revision;
    const diff = this.mirror.reset(kvs, revision);
    this.deps.onSnapshot?.(revision, previous);
    this.haveSnapshot = true;
    if (!first) this.counters.resnapshots += 1;
    const changed = !isEmptyDiff(diff);
    this.logger.info(
      {
        revision: revision.toString(),
        keys: kvs.length,
        cause: first ? 'snapshot' : cause,
        ...(first ? {} : { added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length }),
      },
      first ? 'etcd snapshot read' : 'etcd re-read and reconciled',
    );
    if (first || changed) this.emit(first ? 'snapshot' : cause);
  }

  private createWatcher(): void {
    const generation = ++this.generation;
    const watcher = this.client
      .watch()
      .prefix(this.rangeStart)
      .startRevision((this.mirror.revision + 1n).toString())
      .watcher();
    this.watcher = watcher;
    this.liveness.detach();
    const current = (): boolean => generation === this.generation && !this.closed;
    let created = false;
    watcher.on('connected', () => {
      if (!current()) return;
      created = true;
      this.repeats.reset();
      this.tracker.heard();
      this.watchConnected = true;
      this.liveness.attach();
      this.tracker.set(true, null);
    });
    watcher.on('data', (res: IWatchResponse) => {
      if (current()) this.onWatchData(res);
    });
    watcher.on('disconnected', (err: Error) => {
      created = false;
      if (current()) this.onDisconnected(watcher, err);
    });
    // Without this listener etcd3 swallows a cancel (compaction, lost permission) and the watch stops.
    watcher.on('error', (err: Error) => {
      if (current()) this.onWatchCancelled(err, created);
    });
  }

  private onWatchData(res: IWatchResponse): void {
    this.deliveries += 1;
    if (this.rewound(BigInt(res.header.revision), 'watch')) return;
    this.watchConnected = true;
    this.liveness.delivered();
    this.tracker.set(true, null);
    if (res.events.length === 0) {
      // A progress notification: every change under the prefix up to this revision was delivered.
      this.mirror.advance(BigInt(res.header.revision));
      this.tracker.heard();
      return;
    }
    const events: MirrorEvent[] = res.events.map((ev) => ({
      type: ev.type === 'Put' ? 'put' : 'delete',
      key: ev.kv.key.toString('utf8'),
      value: ev.type === 'Put' ? ev.kv.value.toString('utf8') : '',
      revision: BigInt(ev.kv.mod_revision),
      createRevision: BigInt(ev.kv.create_revision),
    }));
    const changed = this.mirror.apply(events, this.deps.onEvent);
    // After the mirror moved, so a throttled health report carries the new revision.
    this.tracker.heard();
    if (changed) this.emit('watch');
  }

  private onDisconnected(watcher: Watcher, err: Error): void {
    this.counters.watchDisconnects += 1;
    // etcd3 re-authenticates only for unary calls; a watch would retry forever with a dead token
    // (etcd forgets simple tokens when it restarts).
    if (err instanceof EtcdInvalidAuthTokenError) invalidateAuthToken(this.client);
    this.watchConnected = false;
    this.liveness.detach();
    this.tracker.set(false, this.explain(describeError(err)));
    // etcd3 would resume from the creation response's revision + 1, which skips events that were
    // still in flight when the stream broke; resume from what the mirror actually applied instead.
    watcher.request.start_revision = (this.mirror.revision + 1n).toString();
    this.warnRepeated('etcd watch disconnected; reconnecting', describeError(err), { resumeAt: watcher.request.start_revision });
  }

  /** The operator's wording of an etcd failure; the raw gRPC text goes to debug beside it. */
  private explain(raw: string): string {
    return explainUnreachable(raw, this.options.endpoints, this.options.requestTimeoutMs) ?? raw;
  }

  /** While etcd is down the same failure repeats every few ms: once at warn, then a counted summary. */
  private warnRepeated(msg: string, raw: string, fields: Record<string, unknown>): string {
    const error = this.explain(raw);
    this.logger.debug({ ...fields, error: raw }, msg);
    const gate = this.repeats.admit(msg);
    if (gate.log) this.logger.warn({ ...fields, error, ...(gate.repeats > 0 ? { repeats: gate.repeats, sinceMs: REPEAT_WINDOW_MS } : {}) }, msg);
    return error;
  }

  private onWatchCancelled(err: Error, created: boolean): void {
    const sourceError = toSourceError(err, 'etcd cancelled the watch');
    this.watchConnected = false;
    this.liveness.detach();
    this.tracker.set(false, describeError(sourceError));
    // etcd already dropped a cancelled watcher; asking it to cancel again would wait for nothing.
    this.watcher = null;
    this.generation += 1;
    if (!created) {
      // A watch refused at creation (etcd 3.5 answers a resumed watch whose token it forgot with a
      // created+cancelled response) stays at the head of etcd3's attach queue, so no later watch on
      // that client is ever sent: only a new client watches again. A refused token is renewed by it
      // too, and the history is intact, so the watch resumes from the mirror without a snapshot.
      const authOnly = err instanceof EtcdInvalidAuthTokenError;
      this.logger.warn(
        { code: sourceError.code, error: describeError(err), revision: this.mirror.revision.toString() },
        authOnly ? 'etcd refused the watch with an expired token; new client, resuming the watch' : 'etcd refused the watch; new client and a fresh snapshot',
      );
      this.replaceClient();
      if (authOnly) this.createWatcher();
      else void this.recover('recovery');
      return;
    }
    this.logger.warn(
      { code: sourceError.code, error: describeError(err), revision: this.mirror.revision.toString() },
      'etcd watch cancelled; taking a fresh snapshot',
    );
    void this.restartWatch('recovery');
  }

  private async restartWatch(cause: 'recovery' | 'resync'): Promise<void> {
    await this.dropWatcher();
    if (!this.closed) await this.recover(cause);
  }

  /**
   * A stalled watch may sit behind a wedged attach queue or a wedged client: a new client, then either a
   * watch resumed from the mirror (the events it lacks are newer than its revision, and a compacted
   * history cancels the watch, which takes the snapshot path) or, when the mirror itself cannot be
   * trusted, a fresh snapshot.
   */
  private async rebuildWatch(from: 'mirror' | 'snapshot', cause: 'recovery' | 'resync' = 'recovery'): Promise<void> {
    if (this.closed) return;
    this.counters.watchRebuilds += 1;
    void this.forgetWatcher();
    this.replaceClient();
    if (from === 'mirror') this.createWatcher();
    else await this.recover(cause);
  }

  private replaceClient(): void {
    const old = this.client;
    this.client = createEtcdClient(this.options);
    old.close();
  }

  /**
   * Silences the current watcher (the generation bump) and asks etcd to cancel it: closing a client
   * does not end its watch stream, only the last watcher's cancel does. Resolves when the cancel is
   * acknowledged, which may be never while etcd is unreachable: callers bound the wait.
   */
  private forgetWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = null;
    this.watchConnected = false;
    this.liveness.detach();
    this.generation += 1;
    return watcher === null ? Promise.resolve() : watcher.cancel().catch(() => undefined);
  }

  private async dropWatcher(): Promise<void> {
    await Promise.race([this.forgetWatcher(), this.sleep(1000)]);
  }

  /**
   * etcd's revision never decreases, so a lower one means its data was replaced (a restore from a
   * backup, a wiped member): the mirror and a watch resumed at a future revision would freeze. True
   * when it did, after starting a fresh snapshot.
   */
  private rewound(etcdRevision: bigint, where: string): boolean {
    if (!this.haveSnapshot || this.closed || etcdRevision >= this.mirror.revision) return false;
    if (this.recovering !== null) return true;
    this.counters.revisionRewinds += 1;
    this.logger.warn(
      { mirrorRevision: this.mirror.revision.toString(), etcdRevision: etcdRevision.toString(), where },
      'etcd revision went backwards (restored or replaced data); taking a fresh snapshot',
    );
    void this.rebuildWatch('snapshot');
    return true;
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    try {
      // A linearizable read (it fails when the member has no leader) of the newest key under the
      // prefix and the key count: enough to know whether etcd holds changes the watch has not delivered.
      const res = await this.settleOrNull(this.client.getAll().prefix(this.rangeStart).sort('Mod', 'Descend').limit(1).exec());
      if (res === null) {
        if (this.closed) return;
        this.logger.warn({ waitedMs: this.options.requestTimeoutMs + 1000 }, 'etcd heartbeat never settled; new client');
        this.tracker.set(false, 'etcd client stopped answering');
        if (this.haveSnapshot && this.recovering === null) void this.rebuildWatch('mirror');
        return;
      }
      this.tracker.heard();
      if (this.watchConnected && this.recovering === null) this.tracker.set(true, null);
      this.checkWatch(res.header.revision, res.kvs[0]?.mod_revision, Number(res.count));
    } catch (err) {
      if (!this.closed) this.recordError(err, 0);
    } finally {
      this.heartbeatInFlight = false;
    }
    if (this.started) this.tracker.checkStale();
  }

  private checkWatch(headerRevision: string, newestModRevision: string | undefined, count: number): void {
    if (this.closed || !this.haveSnapshot || this.recovering !== null) return;
    if (this.rewound(BigInt(headerRevision), 'heartbeat')) return;
    const owed = BigInt(newestModRevision ?? '0') > this.mirror.revision || count !== this.mirror.size;
    const stall = this.liveness.observe(owed);
    if (stall === null) return;
    this.logger.warn(
      { reason: stall, revision: this.mirror.revision.toString(), etcdRevision: headerRevision },
      'etcd watch stalled; rebuilding it',
    );
    void this.rebuildWatch('mirror');
  }

  /**
   * Every call carries a deadline, so one that has not settled well after it means the client itself
   * is wedged (seen after an etcd restart with auth): null then, and only a new client helps.
   */
  private async settleOrNull<T>(call: Promise<T>): Promise<T | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.options.requestTimeoutMs + 1000).unref();
    });
    try {
      return await Promise.race([call, late]);
    } finally {
      clearTimeout(timer);
      call.catch(() => undefined);
    }
  }

  private recordError(err: unknown, attempt: number): void {
    const raw = describeError(toSourceError(err, 'etcd request failed'));
    const message = this.warnRepeated('etcd unavailable; retrying with backoff', raw, { attempt });
    this.tracker.set(false, message);
  }

  private emit(cause: SourceView['cause']): void {
    const listener = this.listener;
    if (listener === null || this.closed) return;
    listener.onChange(lazyView(this.mirror, cause));
  }

  private sleep(ms: number): Promise<void> {
    return sleep(ms, this.closing.signal);
  }
}
