import type { Applier } from '../apply/types.js';
import { decideWriter, findRecordNode, type WriterDecision } from '../model/choose-writer.js';
import type { GaleraNode } from '../model/types.js';
import type { SourceView } from '../source/types.js';
import { writerKeyOf, type ServiceSpec } from '../model/service.js';
import { encodeWriterRecord, readWriterRecord, type ReadRecord, type WriterView } from '../model/writer-record.js';
import { inMaintenance, inRotation } from '../plan/admin-state.js';
import type { WriterStore } from '../source/writer-store.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { describeError } from '../errors.js';

/** One service's writer as this proxy renders it. */
export interface WriterStatus extends WriterView {
  readonly service: string;
}

export interface WriterElectionOptions {
  /** Null where nothing may be written to etcd (`render`, `plan`): the record is followed, never moved. */
  readonly store: WriterStore | null;
  /** Who this proxy is in the record's `by`. */
  readonly proxyId: string;
  readonly metrics: Metrics;
  /**
   * How long a proxy keeps writes waiting after it saw the record move from one writer to another,
   * before it sends them to the new one: the old writer leaves at once, the new one comes in after
   * this. Every proxy sees the change within a watch delivery of the others (milliseconds), so with a
   * handover longer than that spread no instant has one proxy writing to the new writer while another
   * still writes to the old. @default 0
   */
  readonly handoverMs?: number;
  /** Wall clock for the record's `at`. */
  readonly now?: () => Date;
  /** Monotonic ms for the handover. */
  readonly clock?: () => number;
}

/**
 * Single-writer mode across proxies. Every proxy renders the writer the service's etcd record names,
 * never a choice of its own: two proxies that each picked the first node UP in their own HAProxy would
 * send writes to two nodes as soon as their health checks disagree. A proxy that sees the record's writer
 * gone from etcd, or DOWN in its own HAProxy, proposes the next one by compare-and-swap against the epoch
 * it saw; exactly one proposal per epoch can win, and every other proxy follows the record that won.
 */
export class WriterElection {
  /** The epoch and node last seen per service, so each record change is logged once, with from → to. */
  private readonly seen = new Map<string, { epoch: bigint; node: string | null; holdUntil: number }>();
  /** Malformed records already reported (`key@epoch`): one error line per bad value, not one per pass. */
  private readonly reported = new Set<string>();

  /**
   * The record a compare-and-swap returned, until the view catches up with it: a pass run before the
   * watch delivers the change (the writer check every second) must not read the older record as a move
   * back.
   */
  private readonly fromSwap = new Map<string, Exclude<ReadRecord, { kind: 'none' }>>();
  private readonly clock: () => number;

  constructor(private readonly options: WriterElectionOptions) {
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Decides (and, when needed, proposes) the writer of one single-writer service. */
  async place(service: ServiceSpec, nodes: readonly GaleraNode[], view: Pick<SourceView, 'kvs' | 'revision'>, applier: Applier | null, log: Logger, mayPropose = true): Promise<WriterStatus> {
    const key = writerKeyOf(service);
    let read = this.newest(service.name, readWriterRecord(key, view.kvs), view.revision);
    this.reportMalformed(service.name, key, read, log);
    const listener = await readWriteListener(service.name, applier, log);
    const up = listener?.up ?? null;
    let decision = decideWriter(read, nodes, up, listener?.serving ?? null);
    if (decision.kind === 'propose' && mayPropose && this.options.store !== null) {
      read = await this.propose(service.name, key, decision, read, log);
      if (read.kind !== 'none') this.fromSwap.set(service.name, read);
      this.reportMalformed(service.name, key, read, log);
      // Follow whatever record stands now. A winner that is not usable here either is proposed against
      // on the next pass (a second proposal in one pass could chase a record that keeps moving).
      decision = decideWriter(read, nodes, up);
    }
    // Without a winning proposal the record's writer is rendered even when it is DOWN here: writes wait
    // on this proxy rather than go to a node the other proxies do not write to.
    const chosen = decision.kind === 'propose' ? recordWriter(read, nodes) : decision.writer;
    this.noteChange(service.name, key, read, log);
    const holdMs = Math.max(0, Math.ceil((this.seen.get(service.name)?.holdUntil ?? 0) - this.clock()));
    const writer = holdMs > 0 ? null : chosen;
    const status: WriterStatus = {
      service: service.name,
      key,
      epoch: read.kind === 'none' ? null : read.epoch.toString(),
      node: read.kind === 'ok' ? read.record.node : null,
      server: writer?.name ?? null,
      ...(read.kind === 'ok' ? { by: read.record.by, reason: read.record.reason, ...(read.record.at === undefined ? {} : { at: read.record.at }) } : {}),
      ...(read.kind === 'malformed' ? { malformed: read.reason } : {}),
      // Unknown health (no runtime) is not agreement: the metric must not say all is well when blind.
      agrees: decision.kind === 'keep' && up !== null,
      holdMs,
    };
    this.options.metrics.writerEpoch.set({ service: service.name }, read.kind === 'none' ? 0 : Number(read.epoch));
    this.options.metrics.writerAgrees.set({ service: service.name }, status.agrees ? 1 : 0);
    return status;
  }

  private async propose(service: string, key: string, decision: Extract<WriterDecision, { kind: 'propose' }>, seen: ReadRecord, log: Logger): Promise<ReadRecord> {
    const store = this.options.store;
    if (store === null) return seen;
    const record = { node: decision.to.id, by: this.options.proxyId, reason: decision.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 512), at: (this.options.now?.() ?? new Date()).toISOString() };
    const fields = { event: 'writer-proposal', service, key, epoch: decision.epoch.toString(), from: decision.from, to: decision.to.id, server: decision.to.name, reason: record.reason, by: record.by };
    try {
      const swapped = await store.swap(key, decision.epoch, encodeWriterRecord(record));
      this.options.metrics.writerProposals.inc({ service, outcome: swapped.won ? 'won' : 'lost' });
      log.info({ ...fields, won: swapped.won }, swapped.won ? 'writer proposal won' : 'writer proposal lost; following the record that won');
      return swapped.kv === null ? { kind: 'none' } : readWriterRecord(key, [swapped.kv]);
    } catch (err) {
      this.options.metrics.writerProposals.inc({ service, outcome: 'failed' });
      log.warn({ ...fields, err: describeError(err) }, 'writer proposal failed; trying again on the next pass');
      return seen;
    }
  }

  private newest(service: string, read: ReadRecord, revision: string): ReadRecord {
    const swapped = this.fromSwap.get(service);
    if (swapped === undefined) return read;
    if (/^\d+$/.test(revision) && BigInt(revision) < swapped.epoch) return swapped;
    this.fromSwap.delete(service);
    return read;
  }

  private reportMalformed(service: string, key: string, read: ReadRecord, log: Logger): void {
    if (read.kind !== 'malformed') return;
    const id = `${key}@${read.epoch}`;
    if (this.reported.has(id)) return;
    this.reported.add(id);
    log.error({ service, key, epoch: read.epoch.toString(), reason: read.reason }, `writer record ${key}: ${read.reason}; treated as no record (the next proposal replaces it)`);
  }

  /** One `writer` decision line per record change seen: epoch, from → to, reason and who wrote it. */
  private noteChange(service: string, key: string, read: ReadRecord, log: Logger): void {
    const epoch = read.kind === 'none' ? 0n : read.epoch;
    const node = read.kind === 'ok' ? read.record.node : null;
    const before = this.seen.get(service);
    if (before !== undefined && before.epoch === epoch) return;
    // Only a move from one writer to another needs the handover: before a first record (or after a bad
    // one) no proxy sends writes anywhere, and a proxy that starts adopts a record the others already run.
    const handover = before !== undefined && before.node !== null && node !== null && before.node !== node ? (this.options.handoverMs ?? 0) : 0;
    this.seen.set(service, { epoch, node, holdUntil: this.clock() + handover });
    const fields = { event: 'writer', service, key, epoch: epoch.toString(), from: before?.node ?? null, to: node, ...(handover > 0 ? { handoverMs: handover } : {}) };
    if (read.kind === 'ok') log.info({ ...fields, reason: read.record.reason, by: read.record.by }, before === undefined ? 'writer record adopted' : 'writer record changed');
    else if (read.kind === 'none') log.info(fields, 'no writer record: writes wait until one is written');
    else log.info({ ...fields, reason: read.reason }, 'writer record does not decode: writes wait until it is replaced');
  }
}

function recordWriter(read: ReadRecord, nodes: readonly GaleraNode[]): GaleraNode | null {
  return read.kind === 'ok' ? (findRecordNode(nodes, read.record.node) ?? null) : null;
}

/** What this HAProxy's write listener shows: the servers UP by its own checks, and the one writes go to now. */
export interface WriteListenerView {
  readonly up: ReadonlySet<string>;
  /**
   * The first server (in HAProxy's order) that can take a write now: UP, in rotation, weight above 0.
   * Under a record it is the record's writer; before any record exists it is the writer an earlier
   * version chose on its own (`balance first`, writer listed first), kept when the first record is made.
   */
  readonly serving: string | null;
}

/**
 * Reads the write listener's servers (`show servers state`): the servers that are not the writer carry
 * weight 0 there but are still checked. Null when the runtime cannot be read.
 */
export async function readWriteListener(backend: string, applier: Applier | null, log: Logger): Promise<WriteListenerView | null> {
  if (applier?.runtime === undefined) return null;
  let runtime;
  try {
    runtime = await applier.runtime(backend);
  } catch (err) {
    log.warn({ service: backend, err: describeError(err) }, 'cannot read HAProxy health for the single writer; following the record');
    return null;
  }
  if (runtime === null) return null;
  const up = runtime.filter((s) => s.backend === backend && s.operState === 2 && !inMaintenance(s));
  return { up: new Set(up.map((s) => s.name)), serving: up.find((s) => inRotation(s) && s.weight > 0)?.name ?? null };
}
