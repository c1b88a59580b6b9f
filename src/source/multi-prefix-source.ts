import { ConfigError, describeError } from '../errors.js';
import { prefixProblem, stripTrailingSlashes } from '../model/prefix.js';
import type { KeyValue } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import type { ClusterSource, SourceHealth, SourceListener, SourceView } from './types.js';

/** Health reports that are not transitions are forwarded at most this often (the `onHealth` contract). */
const HEALTH_REPORT_MS = 1000;

/** Several prefixes mirrored as one source; the set can change while it runs. */
export interface MultiPrefixSource<S extends ClusterSource = ClusterSource> extends ClusterSource {
  /**
   * Mirrors exactly `prefixes` from now on: starts a source for each new prefix and waits for its
   * first snapshot (or its own start timeout), then swaps the set in one step, emits the combined
   * view and closes the sources of removed prefixes. Calls are applied one after the other. Before
   * `start` it only changes what `start` will start; after `close` it does nothing.
   */
  setPrefixes(prefixes: readonly string[]): Promise<void>;
  /** The normalised prefixes mirrored now, in the order given. */
  prefixes(): readonly string[];
  /** The source mirroring each current prefix (for stats and tests). */
  parts(): ReadonlyMap<string, S>;
}

/**
 * `/a/` and `/a` name the same directory (sources mirror the range `${prefix}/`). Throws `ConfigError`
 * on a prefix that is not absolute, is the root, repeats another, or lies inside another: a key under
 * both would appear twice in the combined view.
 */
export function normalisePrefixes(prefixes: readonly string[]): string[] {
  if (prefixes.length === 0) throw new ConfigError('no etcd prefix to mirror: give at least one');
  const result: string[] = [];
  for (const raw of prefixes) {
    const problem = prefixProblem(raw);
    if (problem !== null) throw new ConfigError(`etcd prefix '${raw}' ${problem}`);
    const prefix = stripTrailingSlashes(raw);
    for (const other of result) {
      if (other === prefix) throw new ConfigError(`etcd prefix '${raw}' is given twice`);
      if (prefix.startsWith(`${other}/`) || other.startsWith(`${prefix}/`)) {
        throw new ConfigError(`etcd prefix '${raw}' and '${other}' overlap: one lies inside the other`);
      }
    }
    result.push(prefix);
  }
  return result;
}

interface Part<S extends ClusterSource> {
  readonly prefix: string;
  readonly source: S;
  /** The part's latest view, null until its first snapshot. */
  view: SourceView | null;
}

/**
 * One `ClusterSource` over several prefixes, each mirrored by its own source (`makeSource`), so every
 * prefix keeps the single source's liveness rules (stall detection, client renewal, resync, compaction).
 *
 * The combined view is the concatenation of the parts' keys, read lazily like each part's view. Its
 * revision is the highest of the parts' (etcd revisions are cluster-wide, and each part is complete
 * up to its own); removing the prefix that held the highest may lower it, which is harmless because
 * the revision only labels a pass. No view is emitted until every part has its first snapshot: a
 * prefix not read yet must not look like a prefix without nodes (the single source likewise emits
 * nothing before its first read). With one prefix the part's own views and health pass through
 * untouched, so a single-prefix daemon behaves exactly as with the single source.
 */
export function createMultiPrefixSource<S extends ClusterSource>(
  prefixes: readonly string[],
  makeSource: (prefix: string) => S,
  logger: Logger,
): MultiPrefixSource<S> {
  return new MultiPrefix(normalisePrefixes(prefixes), makeSource, logger);
}

class MultiPrefix<S extends ClusterSource> implements MultiPrefixSource<S> {
  /** The parts the view and health are made of, in prefix order. */
  private members: Part<S>[];
  private listener: SourceListener | null = null;
  private started = false;
  private closed = false;
  /** Parts started by a `setPrefixes` that has not swapped them in yet; closed with the source. */
  private readonly pending = new Set<Part<S>>();
  /** Start and every `setPrefixes` run one after the other. */
  private queue: Promise<void> = Promise.resolve();
  private lastHealth: SourceHealth | null = null;
  private healthReportedAt = Number.NEGATIVE_INFINITY;

  constructor(
    initial: readonly string[],
    private readonly makeSource: (prefix: string) => S,
    private readonly logger: Logger,
  ) {
    this.members = initial.map((prefix) => this.makePart(prefix));
  }

  prefixes(): readonly string[] {
    return this.members.map((m) => m.prefix);
  }

  parts(): ReadonlyMap<string, S> {
    return new Map(this.members.map((m) => [m.prefix, m.source]));
  }

  /**
   * One read per prefix, the first prefix first, then each next one after the previous answered. Not
   * one revision: each prefix is as of its own read, and each read's revision is at least the
   * previous one's, so a transaction that wrote under two prefixes may show under the earlier prefix
   * as not yet applied while applied under a later one. The view's revision is the last (highest).
   */
  async readOnce(): Promise<SourceView> {
    const members = this.members;
    if (members.length === 1) return members[0]!.source.readOnce();
    const views: SourceView[] = [];
    for (const member of members) views.push(await member.source.readOnce());
    return combine(views, 'snapshot');
  }

  /**
   * Starts every part at once; resolves when each part's own `start` has (first snapshot or its
   * timeout). A `setPrefixes` called meanwhile waits for it.
   */
  start(listener: SourceListener): Promise<void> {
    if (this.started) return Promise.reject(new Error('multi-prefix source already started'));
    this.started = true;
    this.listener = listener;
    if (this.members.length > 1) this.logger.info({ prefixes: this.prefixes() }, 'mirroring several etcd prefixes');
    const all = Promise.all(this.members.map((m) => this.startPart(m))).then(() => undefined);
    return this.serialise(() => all);
  }

  setPrefixes(prefixes: readonly string[]): Promise<void> {
    let wanted: string[];
    try {
      wanted = normalisePrefixes(prefixes);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialise(() => this.swap(wanted));
  }

  /**
   * Connected only when every part is; the oldest last-heard time and the oldest watch verification
   * (the view is only as fresh as its stalest part); the lowest mirror revision, because the combined
   * view is known complete only up to it (a quiet prefix's mirror revision stays at its last change
   * unless etcd sends progress notifications); the first error; attached only when every watch is.
   */
  health(): SourceHealth {
    const members = this.members;
    if (members.length === 1) return members[0]!.source.health();
    return combineHealth(members.map((m) => m.source.health()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.members, ...this.pending];
    await Promise.all(all.map((p) => this.closePart(p)));
  }

  private makePart(prefix: string): Part<S> {
    return { prefix, source: this.makeSource(prefix), view: null };
  }

  private startPart(part: Part<S>): Promise<void> {
    return part.source.start({
      onChange: (view) => {
        part.view = view;
        if (this.members.includes(part)) this.emit(view.cause);
      },
      onHealth: (health) => {
        if (this.members.includes(part)) this.reportHealth(this.members.length === 1 ? health : null);
      },
    });
  }

  private async swap(wanted: readonly string[]): Promise<void> {
    if (this.closed) return;
    const current = new Map(this.members.map((m) => [m.prefix, m]));
    const added: Part<S>[] = [];
    try {
      for (const prefix of wanted) if (!current.has(prefix)) added.push(this.makePart(prefix));
    } catch (err) {
      await Promise.all(added.map((p) => this.closePart(p)));
      throw err;
    }
    const removed = this.members.filter((m) => !wanted.includes(m.prefix));
    const reordered = this.members.some((m, i) => m.prefix !== wanted[i]);
    if (added.length === 0 && removed.length === 0 && !reordered) return;
    if (this.started) {
      for (const part of added) this.pending.add(part);
      try {
        await Promise.all(added.map((p) => this.startPart(p)));
      } catch (err) {
        await Promise.all(added.map((p) => this.closePart(p)));
        throw err;
      } finally {
        for (const part of added) this.pending.delete(part);
      }
      if (this.closed) {
        await Promise.all(added.map((p) => this.closePart(p)));
        return;
      }
    }
    const byPrefix = new Map([...current, ...added.map((p) => [p.prefix, p] as const)]);
    this.members = wanted.map((p) => byPrefix.get(p)!);
    this.logger.info(
      { prefixes: wanted, added: added.map((p) => p.prefix), removed: removed.map((p) => p.prefix), waiting: added.filter((p) => p.view === null).map((p) => p.prefix) },
      'etcd prefixes changed',
    );
    if (this.started) {
      this.emit('snapshot');
      this.reportHealth(null, true);
    }
    await Promise.all(removed.map((p) => this.closePart(p)));
  }

  private async closePart(part: Part<S>): Promise<void> {
    try {
      await part.source.close();
    } catch (err) {
      this.logger.warn({ prefix: part.prefix, err: describeError(err) }, 'closing the source of an etcd prefix failed');
    }
  }

  private emit(cause: SourceView['cause']): void {
    const listener = this.listener;
    if (listener === null || this.closed) return;
    const views: SourceView[] = [];
    for (const member of this.members) {
      if (member.view === null) return;
      views.push(member.view);
    }
    listener.onChange(views.length === 1 ? views[0]! : combine(views, cause));
  }

  /** Transitions at once, other reports at most once a second; with one part its own report as is. */
  private reportHealth(single: SourceHealth | null, force = false): void {
    const listener = this.listener;
    if (listener?.onHealth === undefined || this.closed) return;
    const health = single ?? this.health();
    const previous = this.lastHealth;
    const transition =
      previous === null ||
      previous.connected !== health.connected ||
      previous.lastError !== health.lastError ||
      previous.watch.attached !== health.watch.attached ||
      (previous.revision === null) !== (health.revision === null);
    const now = Date.now();
    if (!force && single === null && !transition && now - this.healthReportedAt < HEALTH_REPORT_MS) return;
    this.lastHealth = health;
    this.healthReportedAt = now;
    listener.onHealth(health);
  }

  private serialise(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** A view over the parts' views that reads them (and so copies their mirrors) only when read. */
function combine(views: readonly SourceView[], cause: SourceView['cause']): SourceView {
  let captured: { revision: string; kvs: readonly KeyValue[] } | null = null;
  const capture = (): { revision: string; kvs: readonly KeyValue[] } => {
    if (captured !== null) return captured;
    let revision = 0n;
    const kvs: KeyValue[] = [];
    for (const view of views) {
      // Each part captures its own keys and revision together, so each stays consistent.
      const partKvs = view.kvs;
      const partRevision = BigInt(view.revision);
      if (partRevision > revision) revision = partRevision;
      for (const kv of partKvs) kvs.push(kv);
    }
    captured = { revision: revision.toString(), kvs };
    return captured;
  };
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

const oldest = (values: readonly (number | null)[]): number | null =>
  values.some((v) => v === null) ? null : Math.min(...(values as number[]));

export function combineHealth(parts: readonly SourceHealth[]): SourceHealth {
  const revisions = parts.map((h) => h.revision);
  const lowest = revisions.some((r) => r === null)
    ? null
    : (revisions as string[]).reduce((low, r) => (BigInt(r) < BigInt(low) ? r : low));
  return {
    connected: parts.every((h) => h.connected),
    lastHeardAt: oldest(parts.map((h) => h.lastHeardAt)),
    revision: lowest,
    lastError: parts.find((h) => h.lastError !== null)?.lastError ?? null,
    watch: {
      attached: parts.every((h) => h.watch.attached),
      verifiedAt: oldest(parts.map((h) => h.watch.verifiedAt)),
    },
  };
}
