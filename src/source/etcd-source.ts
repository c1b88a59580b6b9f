import { EtcdInvalidAuthTokenError, type Etcd3, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { describeError } from '../errors.js';
import type { KeyValue } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import { JitterBackoff } from './etcd-backoff.js';
import { toSourceError } from './etcd-errors.js';
import { describeEtcdOptions, type EtcdSourceOptions } from './etcd-options.js';
import { createEtcdClient, invalidateAuthToken } from './etcd-writer.js';
import { isEmptyDiff, KeyMirror, type MirrorEvent } from './key-mirror.js';
import type { ClusterSource, SourceHealth, SourceListener, SourceView } from './types.js';

/** Counters for tests and benchmarks: what the source did, not what etcd holds. */
export interface EtcdSourceStats {
  /** Watch events applied to the mirror (puts and deletes). */
  readonly eventsApplied: number;
  /** Snapshots taken after the first (compaction, resync difference, watch cancel). */
  readonly resnapshots: number;
  /** Periodic resyncs that found the mirror different from etcd (should stay 0). */
  readonly resyncDifferences: number;
  readonly watchDisconnects: number;
}

export interface EtcdClusterSource extends ClusterSource {
  stats(): EtcdSourceStats;
  /** Forces the periodic comparison now; resolves true when the mirror matched etcd. */
  resyncNow(): Promise<boolean>;
}

const decode = (kv: IKeyValue): KeyValue => ({ key: kv.key.toString('utf8'), value: kv.value.toString('utf8') });

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

/** Collaborators a caller may supply; tests use the hooks to account for every event. */
export interface EtcdSourceDeps {
  /** A client built elsewhere (it is closed by `close()`). @default createEtcdClient(options) */
  readonly client?: Etcd3;
  /** Each watch event the mirror applied, in order. */
  readonly onEvent?: (event: MirrorEvent) => void;
  /** Each snapshot installed, with the revision the mirror had before it (0 for the first). */
  readonly onSnapshot?: (revision: bigint, previousRevision: bigint) => void;
}

class EtcdSource implements EtcdClusterSource {
  private readonly mirror = new KeyMirror();
  private readonly rangeStart: string;
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
  private connected = false;
  private heartbeatInFlight = false;
  private watchConnected = false;
  private lastHeardAt: number | null = null;
  private lastError: string | null = null;
  private stale = false;
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
        { waitedMs: this.options.startTimeoutMs, error: this.lastError },
        'etcd not readable yet; keeping the last config on disk and retrying in the background',
      );
    }
  }

  health(): SourceHealth {
    return {
      connected: this.connected,
      lastHeardAt: this.lastHeardAt,
      revision: this.haveSnapshot ? this.mirror.revision.toString() : null,
      lastError: this.lastError,
    };
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
    this.setConnected(false);
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
      // A compacted revision cannot be compared; the next event or resync will catch up.
      this.logger.debug({ error: describeError(err) }, 'resync skipped');
      return true;
    }
  }

  private async readSnapshot(revision?: bigint): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    try {
      const req = this.client.getAll().prefix(this.rangeStart);
      const res = await (revision === undefined ? req : req.revision(revision.toString())).exec();
      this.heard();
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
      this.heard();
      this.watchConnected = true;
      this.setConnected(true, null);
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
    this.heard();
    this.watchConnected = true;
    this.setConnected(true, null);
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
    }));
    if (this.mirror.apply(events, this.deps.onEvent)) this.emit('watch');
  }

  private onDisconnected(watcher: Watcher, err: Error): void {
    this.counters.watchDisconnects += 1;
    // etcd3 re-authenticates only for unary calls; a watch would retry forever with a dead token
    // (etcd forgets simple tokens when it restarts).
    if (err instanceof EtcdInvalidAuthTokenError) invalidateAuthToken(this.client);
    this.watchConnected = false;
    this.setConnected(false, describeError(err));
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
    this.setConnected(false, describeError(sourceError));
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
      this.heard();
      if (this.watchConnected && this.recovering === null) this.setConnected(true, null);
    } catch (err) {
      this.recordError(err, 0);
    } finally {
      this.heartbeatInFlight = false;
    }
    this.checkStale();
  }

  private checkStale(): void {
    const silentMs = this.lastHeardAt === null ? null : Date.now() - this.lastHeardAt;
    if (!this.stale && (silentMs === null || silentMs > this.options.staleAfterMs) && this.started) {
      this.stale = true;
      this.logger.warn(
        { silentMs, lastHeardAt: this.lastHeardAt, revision: this.health().revision, error: this.lastError },
        'etcd silent; serving the last known state',
      );
      this.listener?.onHealth?.(this.health());
    }
  }

  private heard(): void {
    const now = Date.now();
    if (this.stale) {
      this.stale = false;
      this.logger.info({ silentMs: this.lastHeardAt === null ? null : now - this.lastHeardAt }, 'etcd answering again');
    }
    this.lastHeardAt = now;
  }

  private recordError(err: unknown, attempt: number): void {
    const message = describeError(toSourceError(err, 'etcd request failed'));
    const changed = message !== this.lastError;
    this.setConnected(false, message);
    if (changed || attempt === 1) this.logger.warn({ error: message, attempt }, 'etcd unavailable; retrying with backoff');
    else this.logger.debug({ error: message, attempt }, 'etcd still unavailable');
  }

  private setConnected(connected: boolean, error?: string | null): void {
    const nextError = error === undefined ? (connected ? null : this.lastError) : error;
    if (connected === this.connected && nextError === this.lastError) return;
    this.connected = connected;
    this.lastError = nextError;
    this.listener?.onHealth?.(this.health());
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

/**
 * A view that copies the mirror only when read. A burst of 10,000 events then costs one sorted copy
 * (the daemon debounces and reads the last view), not 10,000. Revision and keys are captured together
 * on first read, so a view read late shows a newer, still consistent, state.
 */
function lazyView(mirror: KeyMirror, cause: SourceView['cause']): SourceView {
  let captured: { revision: string; kvs: readonly KeyValue[] } | null = null;
  const capture = (): { revision: string; kvs: readonly KeyValue[] } =>
    (captured ??= { revision: mirror.revision.toString(), kvs: mirror.kvs() });
  return {
    cause,
    get revision() {
      return capture().revision;
    },
    get kvs() {
      return capture().kvs;
    },
  };
}
