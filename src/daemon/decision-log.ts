import type { ClusterState, GaleraNode } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import type { UpdateOutcome } from '../observe/metrics.js';
import { diffNodes } from './node-changes.js';

/** Names beyond this many are counted, not listed: a 300-node change stays one readable line. */
const MAX_NAMES = 20;

/**
 * Per-node detail of a pass goes to debug: at info the operator reads what HAProxy got (one summary
 * line per pass), not the etcd diff. Only a rejection is worth a line of its own, and only when new.
 */
export function logDecisions(log: Logger, previous: ClusterState | null, state: ClusterState): void {
  const changes = diffNodes(previous, state);
  for (const n of changes.added) log.debug({ service: n.service, node: n.id, server: n.name, address: n.address, port: n.port }, 'node added');
  for (const n of changes.removed) log.debug({ service: n.service, node: n.id, server: n.name, address: n.address, port: n.port }, 'node removed');
  for (const c of changes.changed) {
    log.debug({ service: c.to.service, node: c.to.id, server: c.to.name, from: describeServer(c.from), to: describeServer(c.to) }, 'node changed');
  }
  // Draining is an operator's or a leaving node's decision, and rare: worth an info line each way.
  const drains = drainChanges(previous, state);
  for (const n of drains.draining) log.info({ service: n.service, node: n.id, server: n.name }, 'node draining: no new clients, open sessions finish');
  for (const n of drains.undrained) log.info({ service: n.service, node: n.id, server: n.name }, 'node back in rotation (no longer draining)');
  for (const r of changes.newlyRejected) log.warn({ service: r.service, key: r.key, node: r.id }, `node rejected: ${r.key}: ${r.reason}`);
  const noted = new Set((previous?.notes ?? []).map((n) => `${n.key}\u0000${n.reason}`));
  for (const n of state.notes ?? []) {
    if (!noted.has(`${n.key}\u0000${n.reason}`)) log.debug({ key: n.key, node: n.id }, `node value: ${n.key}: ${n.reason}`);
  }
}

function describeServer(n: GaleraNode): string {
  return `${n.address}:${n.port} w${n.weight}${n.backup ? ' backup' : ''}${n.draining ? ' draining' : ''}`;
}

const nodeKey = (n: GaleraNode): string => `${n.service ?? ''}\u0000${n.name}`;

/** Nodes that started or stopped draining since the previous pass (a node that arrives draining counts). */
export function drainChanges(previous: ClusterState | null, state: ClusterState): { draining: GaleraNode[]; undrained: GaleraNode[] } {
  const before = new Map((previous?.nodes ?? []).map((n) => [nodeKey(n), n]));
  const draining = state.nodes.filter((n) => n.draining === true && before.get(nodeKey(n))?.draining !== true);
  const undrained = state.nodes.filter((n) => n.draining !== true && before.get(nodeKey(n))?.draining === true);
  return { draining, undrained };
}

export interface PassSummary {
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

function capNames(names: readonly string[]): { names: string[]; more?: number } {
  return names.length <= MAX_NAMES ? { names: [...names] } : { names: names.slice(0, MAX_NAMES), more: names.length - MAX_NAMES };
}

/**
 * The one info line of a pass that changed HAProxy (or of the first pass of a start), or null when
 * there is nothing to say at info. Failures and the guard have lines of their own.
 */
export function summarizePass(previous: ClusterState | null, state: ClusterState, outcome: UpdateOutcome): PassSummary | null {
  if (outcome !== 'runtime' && outcome !== 'reload' && !(outcome === 'noop' && previous === null)) return null;
  const fields: Record<string, unknown> = {};
  // The first pass compares with nothing: every node would be "added", so it gives a count instead.
  if (previous === null) {
    fields['nodes'] = state.nodes.length;
    const draining = state.nodes.filter((n) => n.draining === true).map((n) => n.name);
    if (draining.length > 0) fields['draining'] = capNames(draining).names;
  }
  else {
    const changes = diffNodes(previous, state);
    // With several services a name says which section it is in (`web/w1`); one service keeps bare names.
    const services = new Set([...state.nodes, ...previous.nodes].map((n) => n.service));
    const label = (n: ClusterState['nodes'][number]): string => (services.size > 1 && n.service !== undefined ? `${n.service}/${n.name}` : n.name);
    const drains = drainChanges(previous, state);
    const lists = {
      added: changes.added.map(label),
      removed: changes.removed.map(label),
      changed: changes.changed.map((c) => label(c.to)),
      draining: drains.draining.map(label),
      undrained: drains.undrained.map(label),
    };
    for (const [kind, names] of Object.entries(lists)) {
      if (names.length === 0) continue;
      const capped = capNames(names);
      fields[kind] = capped.names;
      if (capped.more !== undefined) fields[`${kind}More`] = capped.more;
    }
  }
  const msg = outcome === 'runtime' ? 'HAProxy updated by runtime' : outcome === 'reload' ? 'HAProxy updated by reload' : 'HAProxy already up to date';
  return { msg, fields };
}
