import { serverNameCandidates, type ServerNaming } from './server-name.js';
import type { Endpoint } from './parse-value.js';
import type { GaleraNode, Rejection } from './types.js';

/** A decoded node before it claims its address and name. */
export interface NodeCandidate {
  readonly id: string;
  readonly endpoint: Endpoint;
  readonly keys: string[];
  /** The key a node-level rejection is reported against. */
  readonly mainKey: string;
  readonly createRevision?: bigint;
}

export interface NameHistory {
  /** Server names by node id from the previous pass: a name still held by a registered node stays its own. */
  readonly previousNames?: ReadonlyMap<string, string>;
  /** Server names of the running config by `address:port`: a first pass keeps the names HAProxy serves. */
  readonly runningNames?: ReadonlyMap<string, string>;
}

/** `addr:port`, with IPv6 in brackets: the form HAProxy and operators both read. */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Why the later of two registrations of one address:port is left out; names the key that holds it, so
 * an operator sees both sides in one line (the rejection itself carries the later key).
 */
export function duplicateEndpointReason(endpoint: string, ownerKey: string): string {
  return `${endpoint} is already served by ${ownerKey}, registered earlier; a second server for one node would double its share`;
}

/**
 * Each candidate, in the order given (registration order), claims its address and a server name:
 * - an address:port already claimed is rejected for the later registration (two servers for one node
 *   would double its share, and the earlier one is the server HAProxy already serves and checked UP);
 * - names are reserved first for the nodes that held them (the previous pass, else the running config
 *   for a first pass), so a node leaving never hands its name to another and a restart renames nothing;
 * - any other node takes its first free candidate ({@link serverNameCandidates}); one left with none is
 *   rejected.
 * Rejections are appended to `rejected`; the named nodes are returned in the same order.
 */
export function assignNames(candidates: readonly NodeCandidate[], naming: ServerNaming, history: NameHistory, rejected: Rejection[]): GaleraNode[] {
  const namesOf = new Map(candidates.map((c) => [c.id, serverNameCandidates(c.id, c.endpoint.host, naming)]));
  const present = new Set(candidates.map((c) => c.id));
  const reserved = new Map<string, string>();
  for (const [id, name] of history.previousNames ?? []) if (present.has(id)) reserved.set(name, id);
  const named = new Set(reserved.values());
  for (const c of candidates) {
    const running = history.runningNames?.get(formatEndpoint(c.endpoint.address, c.endpoint.port));
    if (named.has(c.id) || running === undefined || reserved.has(running)) continue;
    if (namesOf.get(c.id)?.includes(running) === true) reserved.set(running, c.id);
  }

  const nodes: GaleraNode[] = [];
  const nameOwner = new Map<string, string>();
  const endpointOwner = new Map<string, string>();
  for (const { id, endpoint, keys, mainKey, createRevision } of candidates) {
    const endpointKey = formatEndpoint(endpoint.address, endpoint.port);
    const endpointTaken = endpointOwner.get(endpointKey);
    if (endpointTaken !== undefined) {
      rejected.push({ key: mainKey, id, reason: duplicateEndpointReason(endpointKey, endpointTaken) });
      continue;
    }
    const names = namesOf.get(id) ?? [];
    const name = names.find((n) => reserved.get(n) === id) ?? names.find((n) => !nameOwner.has(n) && !reserved.has(n));
    if (name === undefined) {
      const last = names[names.length - 1] ?? '';
      rejected.push({ key: mainKey, id, reason: `server name "${last}" is already used by id ${JSON.stringify(nameOwner.get(last))}; rename this id` });
      continue;
    }
    nameOwner.set(name, id);
    endpointOwner.set(endpointKey, mainKey);
    const node: GaleraNode = { id, name, ...endpoint, keys };
    nodes.push(createRevision === undefined ? node : { ...node, createRevision });
  }
  return nodes;
}
