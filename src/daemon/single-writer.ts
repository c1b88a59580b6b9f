import type { Applier } from '../apply/types.js';
import { chooseWriter, orderWriterFirst } from '../model/choose-writer.js';
import type { ClusterState } from '../model/types.js';
import { nodesOf } from '../model/decode-cluster.js';
import { parseServers } from '../plan/parse-servers.js';
import { inMaintenance } from '../plan/admin-state.js';

/**
 * Single-writer mode. The writer is the first server the current file lists, and stays the writer
 * while it is registered and up. When it leaves etcd or fails its check, HAProxy's `balance first` has
 * already moved new writes to the first server that is up in runtime order; the file follows that
 * choice (so a reload keeps it, and the old writer does not take writes back when it recovers).
 */
export async function placeWriter(
  state: ClusterState,
  service: string,
  first: boolean,
  current: string | null,
  applier: Applier | null,
): Promise<{ state: ClusterState; moved: string | undefined }> {
  const own = nodesOf(state, service, first);
  const listed = current === null ? [] : parseServers(current).filter((s) => s.backend === service);
  const previous = listed[0] ?? null;
  let keep = previous?.name ?? null;
  const registered = new Set(own.map((n) => n.name));
  if (previous !== null && applier?.runtime) {
    const runtime = (await applier.runtime())?.filter((s) => s.backend === previous.backend) ?? null;
    const up = (runtime ?? []).filter((s) => s.operState === 2 && !inMaintenance(s) && registered.has(s.name));
    const writerUp = up.some((s) => s.name === previous.name);
    if (runtime !== null && (!writerUp || !registered.has(previous.name)) && up.length > 0) keep = up[0]?.name ?? keep;
  }
  const writer = chooseWriter(own, keep);
  const moved = previous !== null && writer !== null && writer !== previous.name ? `single writer of ${service} moves from ${previous.name} to ${writer}` : undefined;
  // The service's nodes take the place of the first of them, writer first; other services keep theirs.
  const ordered = orderWriterFirst(own, writer);
  const at = state.nodes.findIndex((n) => own.includes(n));
  const others = state.nodes.filter((n) => !own.includes(n));
  const nodes = at === -1 ? others : [...others.slice(0, at), ...ordered, ...others.slice(at)];
  return { state: { ...state, nodes }, moved };
}
