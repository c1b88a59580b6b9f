import type { ClusterState } from '../model/types.js';
import type { Logger } from '../observe/logger.js';
import { diffNodes } from './node-changes.js';

/** One line per node; a mass change (a first snapshot, a burst) is one summary line, the rest at debug. */
const MAX_LINES_PER_KIND = 20;
function logEach(log: Logger, msg: string, nodes: readonly ClusterState['nodes'][number][]): void {
  nodes.forEach((n, i) => {
    const line = { node: n.id, server: n.name, address: n.address, port: n.port };
    if (nodes.length <= MAX_LINES_PER_KIND) log.info(line, msg);
    else log.debug(line, msg);
    if (nodes.length > MAX_LINES_PER_KIND && i === 0) log.info({ count: nodes.length, first: nodes.slice(0, MAX_LINES_PER_KIND).map((x) => x.id) }, `${msg}: ${nodes.length} nodes`);
  });
}

export function logDecisions(log: Logger, previous: ClusterState | null, state: ClusterState): void {
  const changes = diffNodes(previous, state);
  logEach(log, 'node added', changes.added);
  logEach(log, 'node removed', changes.removed);
  for (const c of changes.changed) {
    log.info(
      { node: c.to.id, server: c.to.name, from: `${c.from.address}:${c.from.port} w${c.from.weight}${c.from.backup ? ' backup' : ''}`, to: `${c.to.address}:${c.to.port} w${c.to.weight}${c.to.backup ? ' backup' : ''}` },
      'node changed',
    );
  }
  for (const r of changes.newlyRejected) log.warn({ key: r.key, node: r.id }, `node rejected: ${r.key}: ${r.reason}`);
  const noted = new Set((previous?.notes ?? []).map((n) => `${n.key}\u0000${n.reason}`));
  for (const n of state.notes ?? []) {
    if (!noted.has(`${n.key}\u0000${n.reason}`)) log.debug({ key: n.key, node: n.id }, `node value: ${n.key}: ${n.reason}`);
  }
}
