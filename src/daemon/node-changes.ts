import type { ClusterState, GaleraNode, Rejection } from '../model/types.js';

/** What changed between two decoded states, for one log line per decision. */
export interface NodeChanges {
  readonly added: readonly GaleraNode[];
  readonly removed: readonly GaleraNode[];
  readonly changed: readonly { readonly from: GaleraNode; readonly to: GaleraNode }[];
  /** Rejections not reported at the previous pass (a bad value is logged once, not every pass). */
  readonly newlyRejected: readonly Rejection[];
}

function sameServer(a: GaleraNode, b: GaleraNode): boolean {
  return a.address === b.address && a.port === b.port && a.weight === b.weight && a.backup === b.backup && a.draining === b.draining;
}

/** Names are unique within a section only: the same name may serve two services. */
const keyOf = (n: GaleraNode): string => `${n.service ?? ''}\u0000${n.name}`;

export function diffNodes(previous: ClusterState | null, next: ClusterState): NodeChanges {
  const before = new Map((previous?.nodes ?? []).map((n) => [keyOf(n), n]));
  const after = new Map(next.nodes.map((n) => [keyOf(n), n]));
  const added: GaleraNode[] = [];
  const changed: { from: GaleraNode; to: GaleraNode }[] = [];
  for (const node of next.nodes) {
    const old = before.get(keyOf(node));
    if (!old) added.push(node);
    else if (!sameServer(old, node)) changed.push({ from: old, to: node });
  }
  const removed = (previous?.nodes ?? []).filter((n) => !after.has(keyOf(n)));
  const seen = new Set((previous?.rejected ?? []).map((r) => `${r.key}\u0000${r.reason}`));
  const newlyRejected = next.rejected.filter((r) => !seen.has(`${r.key}\u0000${r.reason}`));
  return { added, removed, changed, newlyRejected };
}
