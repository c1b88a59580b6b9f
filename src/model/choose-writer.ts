import type { GaleraNode } from './types.js';
import type { ReadRecord } from './writer-record.js';
import { DEFAULT_PRIORITY } from './validate-address.js';

/**
 * Who may be proposed as the writer, best first: nodes this proxy's HAProxy sees UP, not draining (they
 * are leaving), with a priority above 0 and a weight above 0 (a weight-0 node takes no new connections
 * at all), ordered by priority
 * (higher first), then by server name so that every proxy that sees the same nodes proposes the same one.
 */
export function writerCandidates(nodes: readonly GaleraNode[], up: ReadonlySet<string>): GaleraNode[] {
  return nodes
    .filter((n) => up.has(n.name) && n.draining !== true && priorityOf(n) > 0 && n.weight > 0)
    .sort((a, b) => priorityOf(b) - priorityOf(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function priorityOf(node: GaleraNode): number {
  return node.priority ?? DEFAULT_PRIORITY;
}

/** The node a record names: by id (what the record holds), or by server name (what operators type). */
export function findRecordNode(nodes: readonly GaleraNode[], node: string): GaleraNode | undefined {
  return nodes.find((n) => n.id === node) ?? nodes.find((n) => n.name === node);
}

export type WriterDecision =
  /** The record's writer is registered and usable here: render it, change nothing. */
  | { readonly kind: 'keep'; readonly writer: GaleraNode }
  /** Propose `to` by compare-and-swap against the epoch seen (0 = the key does not exist yet). */
  | { readonly kind: 'propose'; readonly to: GaleraNode; readonly from: string | null; readonly epoch: bigint; readonly reason: string }
  /**
   * Nothing to propose (no candidate, or this proxy cannot see HAProxy's health): render the record's
   * writer if it is registered, else no writer at all. Writes wait rather than go to a node the others
   * do not write to.
   */
  | { readonly kind: 'stay'; readonly writer: GaleraNode | null; readonly why?: string };

/**
 * What this proxy does about its service's writer, from the record, the registered nodes and the
 * servers its own HAProxy sees UP (null: unknown, as in `render` or when the socket does not answer).
 *
 * - The record is sticky: a writer that is registered and UP here stays, whatever else comes back
 *   (a recovered old writer does not take writes back).
 * - A writer gone from etcd, DOWN here, or draining (about to leave: `register` on SIGTERM, `drain` by
 *   hand), is replaced by the best candidate, proposed against the epoch
 *   seen; no record, or one that does not decode, likewise. Only a record that names a registered node
 *   is ever rendered: never a local choice.
 * - With no record at all, `serving` (the server this HAProxy sends writes to now, if any) is proposed
 *   when it is a candidate: a proxy upgraded from the per-daemon choice keeps its writer instead of
 *   moving writes for no reason.
 */
export function decideWriter(read: ReadRecord, nodes: readonly GaleraNode[], up: ReadonlySet<string> | null, serving: string | null = null): WriterDecision {
  const named = read.kind === 'ok' ? findRecordNode(nodes, read.record.node) : undefined;
  if (named !== undefined && named.draining !== true && (up === null || up.has(named.name))) return { kind: 'keep', writer: named };
  const current = named ?? null;
  if (up === null) return { kind: 'stay', writer: current, why: 'HAProxy health unknown' };
  const candidates = writerCandidates(nodes, up).filter((n) => n !== named);
  const kept = read.kind === 'none' ? candidates.find((n) => n.name === serving) : undefined;
  const best = kept ?? candidates[0];
  const from = read.kind === 'ok' ? read.record.node : null;
  if (best === undefined) return { kind: 'stay', writer: current, why: 'no other node is UP with a priority above 0' };
  const epoch = read.kind === 'none' ? 0n : read.epoch;
  const reason =
    read.kind === 'none'
      ? kept === undefined
        ? 'no writer record'
        : `no writer record; ${kept.name} already takes this HAProxy's writes`
      : read.kind === 'malformed'
        ? 'the writer record does not decode'
        : named === undefined
          ? `writer ${read.record.node} is not registered`
          : named.draining === true
            ? `writer ${named.name} is draining`
            : `writer ${named.name} is DOWN in this HAProxy`;
  return { kind: 'propose', to: best, from, epoch, reason };
}

export type SwitchoverPlan =
  /** `passing`: the target may qualify in a moment (its checks, this HAProxy's socket): worth a wait. */
  | { readonly kind: 'refuse'; readonly reason: string; readonly passing?: true }
  | { readonly kind: 'already'; readonly writer: GaleraNode }
  | { readonly kind: 'swap'; readonly to: GaleraNode; readonly from: string | null; readonly epoch: bigint };

/**
 * A planned move of the writer to `target` (a node id or server name), checked against what this proxy
 * sees: the target must be registered, allowed to write (priority and weight above 0) and UP in this
 * HAProxy. The move is a compare-and-swap against the epoch read, like a failover proposal.
 */
export function planSwitchover(read: ReadRecord, nodes: readonly GaleraNode[], up: ReadonlySet<string> | null, target: string): SwitchoverPlan {
  const to = findRecordNode(nodes, target);
  if (to === undefined) {
    const known = nodes.map((n) => (n.id === n.name ? n.name : `${n.name} (${n.id})`)).join(', ');
    return { kind: 'refuse', reason: `${JSON.stringify(target)} is not a registered node (registered: ${known === '' ? 'none' : known})` };
  }
  if (priorityOf(to) === 0) return { kind: 'refuse', reason: `${to.name} has priority 0: it is never the writer` };
  if (to.weight === 0) return { kind: 'refuse', reason: `${to.name} has weight 0: it takes no new connections` };
  if (to.draining === true) return { kind: 'refuse', reason: `${to.name} is draining: it is leaving` };
  if (up === null) return { kind: 'refuse', reason: `cannot tell whether ${to.name} is UP: this HAProxy's runtime could not be read`, passing: true };
  if (!up.has(to.name)) return { kind: 'refuse', reason: `${to.name} is not UP in this HAProxy (its health check fails, or it is in maintenance)`, passing: true };
  if (read.kind === 'ok' && findRecordNode(nodes, read.record.node) === to) return { kind: 'already', writer: to };
  return { kind: 'swap', to, from: read.kind === 'ok' ? read.record.node : null, epoch: read.kind === 'none' ? 0n : read.epoch };
}

/** Whether a switchover target has caught up, from its clustercheck (see `switchoverReadiness`). */
export type Readiness = { readonly kind: 'go'; readonly note?: string } | { readonly kind: 'wait'; readonly why: string };

/**
 * A switchover moves the writes to the target only once it has applied what it received
 * (`wsrep_local_recv_queue` 0 in its clustercheck JSON): a write arriving there before would wait behind
 * the queue, and a read after it could miss the old writer's last commits. `answer` is the target's
 * clustercheck (null when it did not answer, 'no-check' when the service checks without HTTP).
 */
export function switchoverReadiness(target: string, answer: { readonly recvQueue?: number } | null | 'no-check'): Readiness {
  if (answer === 'no-check') return { kind: 'go', note: `the service has no HTTP clustercheck to read ${target}'s wsrep_local_recv_queue from; not waited` };
  if (answer === null) return { kind: 'wait', why: `${target}'s clustercheck does not answer, so its wsrep_local_recv_queue is unknown` };
  if (answer.recvQueue === undefined) return { kind: 'go', note: `${target}'s clustercheck gives no wsrep_local_recv_queue (not the JSON of galera-haproxy clustercheck); not waited` };
  if (answer.recvQueue > 0) return { kind: 'wait', why: `${target} has ${answer.recvQueue} write sets received and not applied yet (wsrep_local_recv_queue)` };
  return { kind: 'go' };
}

/**
 * A hold no longer than the handover sends the clients of every writer change on while no writer is in
 * yet, where HAProxy refuses them: worth a warning at start. Null when the hold is off (an operator's
 * choice) or long enough.
 */
export function writerHoldProblem(holdMs: number | null, handoverMs: number): string | null {
  if (holdMs === null || holdMs > handoverMs) return null;
  return `writer_hold (${holdMs} ms) is not above --writer-handover (${handoverMs} ms): clients arriving at a writer change are refused when their hold ends before the new writer is in`;
}
