import { EtcdInvalidAuthTokenError, type Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { describeError } from '../errors.js';
import type { KeyValue } from '../model/types.js';
import { HealthTracker } from './etcd-health.js';
import { lazyView } from './source-view.js';
import type { Logger } from '../observe/logger.js';
import { JitterBackoff } from './etcd-backoff.js';
import { toSourceError } from './etcd-errors.js';
import { describeEtcdOptions, type EtcdSourceOptions } from './etcd-options.js';
import { createEtcdClient, invalidateAuthToken } from './etcd-writer.js';
import { isEmptyDiff, KeyMirror, type MirrorEvent } from './key-mirror.js';
import type { SourceHealth, SourceListener, SourceView } from './types.js';
import type { EtcdClusterSource, EtcdSourceDeps, EtcdSourceStats } from './etcd-source-types.js';

export type { EtcdClusterSource, EtcdSourceDeps, EtcdSourceStats } from './etcd-source-types.js';

const decode = (kv: IKeyValue): KeyValue => ({ key: kv.key.toString('utf8'), value: kv.value.toString('utf8'), createRevision: BigInt(kv.create_revision) });

/**
 * Mirrors every key under `options.prefix`: one range read at a single revision, then a watch from
 * revision + 1 that etcd3 reconnects after drops (resuming from our own revision, see `onDisconnected`).
 * A cancelled watch (compaction, or etcd refusing it) leads to a fresh snapshot that is reconciled
 * against the mirror, deletes included. Views are only emitted from successful reads, so an outage
 * never looks like "every node left".
 */
export function createEtcdSource(options: EtcdSourceOptions, logger: Logger, deps: EtcdSourceDeps = {}): EtcdClusterSource {
  return new EtcdSource(options, logger.child({ component: 'etcd-source' }), deps.client ?? createEtcdClient(options), deps);
}

class EtcdSource implements EtcdClusterSource {
  private readonly mirror = new KeyMirror();
  private readonly rangeStart: string;
  private readonly tracker: HealthTracker;
  private listener: SourceListener | null = null;
  private watcher: Watcher | null = null;
  /** Bumped on every new watcher so late events of a discarded one are ignored. */
  private generation = 0;
  private closed = false;
  private started = false;
  private recovering: Promise<void> | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private watchConnected = false;
  private haveSnapshot = false;
  private counters = { resnapshots: 0, resyncDifferences: 0, watchDisconnects: 0 };

  constructor(
    private readonly options: EtcdSourceOptions,
    private readonly logger: Logger,
    private readonly client: Etcd3,
    private readonly deps: EtcdSourceDeps,
  ) {
    // The trailing slash keeps `/components/galera2` out of `/components/galera`.
    this.rangeStart = `${options.prefix}/`;
    this.tracker = new HealthTracker(
      logger,
      options.staleAfterMs,
      () => (this.haveSnapshot ? this.mirror.revision.toString() : null),
      (health) => this.listener?.onHealth?.(health),
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
    let startTimer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      first.then(() => false),
      new Promise<boolean>((resolve) => {
        startTimer = setTimeout(() => resolve(true), this.options.startTimeoutMs);
      }),
    ]);
    clearTimeout(startTimer);
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
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.sleepers) wake();
    await this.dropWatcher();
    await this.recovering?.catch(() => undefined);
    this.client.close();
    this.tracker.set(false);
  }

  async resyncNow(): Promise<boolean> {
    if (this.closed || !this.haveSnapshot || this.recovering !== null) return true;
    const revision = this.mirror.revision;
    const expected = this.mirror.kvs();
    try {
      // Read at the mirror's own revision so the comparison is exact, not racing newer writes.
      const { kvs } = await this.readSnapshot(revision);
      const mirrorAtRevision = new KeyMirror();
      mirrorAtRevision.reset(expected, revision);
      const diff = mirrorAtRevision.diff(kvs);
      if (isEmptyDiff(diff)) {
        this.logger.debug({ revision: revision.toString(), keys: kvs.length }, 'resync: mirror matches etcd');
        return true;
      }
      this.counters.resyncDifferences += 1;
      this.logger.warn(
        { revision: revision.toString(), ...diff },
        'resync found the mirror different from etcd at the same revision (a bug); re-reading everything',
      );
      await this.restartWatch('resync');
      return false;
    } catch (err) {
      const sourceError = toSourceError(err, 'resync');
      if (sourceError.code === 'ETCD_COMPACTED' && !this.closed) {
        // A quiet prefix in a busy keyspace falls behind the compaction point, so an exact comparison
        // is impossible; re-reading still repairs any drift (writes newer than the mirror also show up
        // in that re-read, so its differences are not counted as bugs).
        this.logger.debug({ revision: revision.toString() }, 'resync: mirror revision compacted; re-reading');
        await this.restartWatch('resync');
        return true;
      }
      this.logger.debug({ error: describeError(err) }, 'resync skipped');
      return true;
    }
  }

  private async readSnapshot(revision?: bigint): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    try {
      const req = this.client.getAll().prefix(this.rangeStart);
      const res = await (revision === undefined ? req : req.revision(revision.toString())).exec();
      this.tracker.heard();
      return { kvs: res.kvs.map(decode), revision: BigInt(res.header.revision) };
    } catch (err) {
      throw toSourceError(err, `reading ${this.rangeStart} from etcd`);
    }
  }

  /** Snapshot (retried with backoff until it works or the source closes), then a watch from revision + 1. */
  private recover(cause: 'snapshot' | 'recovery' | 'resync'): Promise<void> {
    if (this.recovering !== null) return this.recovering;
    const run = async (): Promise<void> => {
      let backoff = new JitterBackoff(this.options.backoff.initialMs, this.options.backoff.maxMs);
      let attempts = 0;
      while (!this.closed) {
        try {
          const snapshot = await this.readSnapshot();
          if (this.closed) return;
          this.installSnapshot(snapshot.kvs, snapshot.revision, cause);
          this.createWatcher();
          return;
        } catch (err) {
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
    const current = (): boolean => generation === this.generation && !this.closed;
    watcher.on('connected', () => {
      if (!current()) return;
      this.tracker.heard();
      this.watchConnected = true;
      this.tracker.set(true, null);
    });
    watcher.on('data', (res: IWatchResponse) => {
      if (current()) this.onWatchData(res);
    });
    watcher.on('disconnected', (err: Error) => {
      if (current()) this.onDisconnected(watcher, err);
    });
    // Without this listener etcd3 swallows a cancel (compaction, lost permission) and the watch stops.
    watcher.on('error', (err: Error) => {
      if (current()) this.onWatchCancelled(err);
    });
  }

  private onWatchData(res: IWatchResponse): void {
    this.tracker.heard();
    this.watchConnected = true;
    this.tracker.set(true, null);
    if (res.events.length === 0) {
      // A progress notification: every change under the prefix up to this revision was delivered.
      this.mirror.advance(BigInt(res.header.revision));
      return;
    }
    const events: MirrorEvent[] = res.events.map((ev) => ({
      type: ev.type === 'Put' ? 'put' : 'delete',
      key: ev.kv.key.toString('utf8'),
      value: ev.type === 'Put' ? ev.kv.value.toString('utf8') : '',
      revision: BigInt(ev.kv.mod_revision),
      createRevision: BigInt(ev.kv.create_revision),
    }));
    if (this.mirror.apply(events, this.deps.onEvent)) this.emit('watch');
  }

  private onDisconnected(watcher: Watcher, err: Error): void {
    this.counters.watchDisconnects += 1;
    // etcd3 re-authenticates only for unary calls; a watch would retry forever with a dead token
    // (etcd forgets simple tokens when it restarts).
    if (err instanceof EtcdInvalidAuthTokenError) invalidateAuthToken(this.client);
    this.watchConnected = false;
    this.tracker.set(false, describeError(err));
    // etcd3 would resume from the creation response's revision + 1, which skips events that were
    // still in flight when the stream broke; resume from what the mirror actually applied instead.
    watcher.request.start_revision = (this.mirror.revision + 1n).toString();
    this.logger.warn(
      { error: describeError(err), resumeAt: watcher.request.start_revision },
      'etcd watch disconnected; reconnecting',
    );
  }

  private onWatchCancelled(err: Error): void {
    const sourceError = toSourceError(err, 'etcd cancelled the watch');
    this.logger.warn(
      { code: sourceError.code, error: describeError(err), revision: this.mirror.revision.toString() },
      'etcd watch cancelled; taking a fresh snapshot',
    );
    this.watchConnected = false;
    this.tracker.set(false, describeError(sourceError));
    // etcd already dropped a cancelled watcher; asking it to cancel again would wait for nothing.
    this.watcher = null;
    void this.restartWatch('recovery');
  }

  private async restartWatch(cause: 'recovery' | 'resync'): Promise<void> {
    await this.dropWatcher();
    if (!this.closed) await this.recover(cause);
  }

  private async dropWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = null;
    this.watchConnected = false;
    this.generation += 1;
    if (watcher === null) return;
    // A cancel can hang while etcd is unreachable; the generation bump already silenced it.
    await Promise.race([watcher.cancel().catch(() => undefined), this.sleep(1000)]);
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    try {
      // A linearizable read of one key: cheap, and it fails when the member has no leader.
      await this.client.get(`${this.rangeStart}\u0000heartbeat`).exec();
      this.tracker.heard();
      if (this.watchConnected && this.recovering === null) this.tracker.set(true, null);
    } catch (err) {
      this.recordError(err, 0);
    } finally {
      this.heartbeatInFlight = false;
    }
    if (this.started) this.tracker.checkStale();
  }

  private recordError(err: unknown, attempt: number): void {
    const message = describeError(toSourceError(err, 'etcd request failed'));
    const changed = message !== this.tracker.error;
    this.tracker.set(false, message);
    if (changed || attempt === 1) this.logger.warn({ error: message, attempt }, 'etcd unavailable; retrying with backoff');
    else this.logger.debug({ error: message, attempt }, 'etcd still unavailable');
  }

  private emit(cause: SourceView['cause']): void {
    const listener = this.listener;
    if (listener === null || this.closed) return;
    listener.onChange(lazyView(this.mirror, cause));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.sleepers.add(wake);
    });
  }
}
