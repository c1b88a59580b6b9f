import type { GaleraNode } from './types.js';

/**
 * Single-writer mode's sticky choice. The writer stays the writer while it is registered, whatever
 * other nodes come and go: moving writes between Galera nodes for no reason invites certification
 * conflicts with transactions still running on the old writer. Only when the writer leaves does the
 * choice move, to the first non-backup node by name (backup nodes only when nothing else is left).
 * A writer that fails its health check is HAProxy's business: `balance first` skips it at once.
 */
export function chooseWriter(nodes: readonly GaleraNode[], previous: string | null): string | null {
  if (previous !== null && nodes.some((n) => n.name === previous)) return previous;
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return (sorted.find((n) => !n.backup) ?? sorted[0])?.name ?? null;
}

/**
 * The order a single-writer template lists servers in: the writer first, then the others by name.
 * With `balance first` HAProxy picks by server order, so this is what makes the choice survive a
 * reload (runtime-added servers already go last on their own).
 */
export function orderWriterFirst(nodes: readonly GaleraNode[], writer: string | null): GaleraNode[] {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chosen = sorted.find((n) => n.name === writer);
  return chosen === undefined ? sorted : [chosen, ...sorted.filter((n) => n !== chosen)];
}
