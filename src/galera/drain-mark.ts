import { normalizePrefix } from '../model/prefix.js';
import type { ClusterState, StoredKeyValue } from '../model/types.js';

/** The keys of one node id under a prefix. */
export interface LocatedNode {
  readonly id: string;
  readonly keys: readonly StoredKeyValue[];
}

/** One write of a drain mark; a `put` with `ifModRevision` must find the key unchanged since it was read. */
export type MarkWrite =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease: string; readonly ifModRevision?: string }
  | { readonly kind: 'delete'; readonly key: string };

/** Keys that sit under the prefix and are not nodes (the writer record). */
export function isRecordKey(prefix: string, key: string): boolean {
  return key.slice(normalizePrefix(prefix).length).startsWith('_');
}

/**
 * Finds a node by its id under the prefix, or by its server name or host name as `status` and HAProxy
 * show it. Raw keys count, not only decoded nodes: `undrain` must reach a node whose draining value was
 * rejected. Null when nothing matches.
 */
export function locateNode(prefix: string, kvs: readonly StoredKeyValue[], state: ClusterState, wanted: string): LocatedNode | null {
  const base = normalizePrefix(prefix);
  const idOf = (key: string): string => key.slice(base.length).split('/')[0] ?? '';
  const ids = new Set(kvs.filter((kv) => kv.key.startsWith(base) && !isRecordKey(base, kv.key)).map((kv) => idOf(kv.key)));
  const id = ids.has(wanted) ? wanted : state.nodes.find((n) => n.name === wanted || n.host === wanted)?.id;
  if (id === undefined || id === '') return null;
  return { id, keys: kvs.filter((kv) => kv.key.startsWith(base) && idOf(kv.key) === id) };
}

/** Ids (and server names, when they differ) an operator may name, for an error message. */
export function knownNodes(prefix: string, kvs: readonly StoredKeyValue[], state: ClusterState): string[] {
  const base = normalizePrefix(prefix);
  const ids = [...new Set(kvs.filter((kv) => kv.key.startsWith(base) && !isRecordKey(base, kv.key)).map((kv) => kv.key.slice(base.length).split('/')[0] ?? ''))];
  return ids.filter((id) => id !== '').map((id) => {
    const name = state.nodes.find((n) => n.id === id)?.name;
    return name === undefined || name === id ? id : `${id} (${name})`;
  });
}

/**
 * The writes that mark a node draining, or clear the mark. The mark is `<prefix>/<id>/draining` = `true`
 * for every layout (beside a flat value too), under the lease of the node's own keys so it vanishes
 * with the node. Undrain also clears `"draining": true` that a registrar wrote into a JSON value, with
 * a compare on its mod_revision so a concurrent re-registration is not overwritten.
 */
export function drainMarkWrites(prefix: string, node: LocatedNode, drain: boolean): MarkWrite[] {
  const base = normalizePrefix(prefix);
  const markKey = `${base}${node.id}/draining`;
  const mark = node.keys.find((kv) => kv.key === markKey);
  if (drain) {
    if (mark?.value === 'true') return [];
    return [{ kind: 'put', key: markKey, value: 'true', lease: leaseOf(node, markKey) }];
  }
  const writes: MarkWrite[] = mark === undefined ? [] : [{ kind: 'delete', key: markKey }];
  const flat = node.keys.find((kv) => kv.key === `${base}${node.id}`);
  const cleared = flat === undefined ? null : withoutDrainingField(flat.value);
  if (flat !== undefined && cleared !== null) {
    writes.push({ kind: 'put', key: flat.key, value: cleared, lease: flat.lease, ifModRevision: String(flat.modRevision) });
  }
  return writes;
}

/** The lease the node's own keys are bound to (`0`: none, a node written by hand). */
function leaseOf(node: LocatedNode, markKey: string): string {
  return node.keys.find((kv) => kv.key !== markKey && kv.lease !== '0')?.lease ?? '0';
}

/** A JSON value with `"draining": true` removed, or null when it has none (or is not a JSON object). */
function withoutDrainingField(value: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  if (record['draining'] !== true) return null;
  const rest = { ...record };
  delete rest['draining'];
  return JSON.stringify(rest);
}
