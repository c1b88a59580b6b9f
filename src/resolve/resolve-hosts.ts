import type { ClusterState, GaleraNode, Rejection } from '../model/types.js';
import { checkIPv4, checkIPv6, isIpLiteral } from '../model/validate-address.js';
import { compareEstablished, duplicateEndpointReason, formatEndpoint } from '../model/decode-cluster.js';
import type { Logger } from '../observe/logger.js';
import { describeError } from '../errors.js';

/**
 * Host names are resolved here, between the model and the render, and HAProxy only ever sees IPs.
 *
 * Why not let HAProxy resolve them: a server added through the Runtime API with a name gets no address in
 * 2.6 (`srv_addr` `-`, DOWN with SOCKERR until a reload), 2.6 refuses `init-addr` on `add server`, a
 * `resolvers` section needs a DNS server address (no /etc/hosts), and 3.0 packaged in a chroot reads the
 * chroot's /etc/hosts, not the host's. With IPs in the file, a name-registered node takes exactly the IP
 * paths: `add server`, the server-state file matching `srv_addr`, and a DNS change is one `set server
 * addr` like a re-registration. Server names come from the node id, so they stay put in stats and logs;
 * the lines below say which name went to which address.
 *
 * A name that does not resolve:
 * - never resolved since start: the node is rejected with a one-line reason naming its key; it joins at
 *   the first pass that resolves it (a periodic pass re-resolves);
 * - resolved before: it keeps its last good address, with one warning when the failures start and one
 *   line when they end, because a DNS outage must not empty a backend that still answers.
 */

/** Every address a name has now (IPv4 and IPv6, any order); throws when it has none. Injected. */
export type LookupHost = (name: string) => Promise<readonly string[]>;

export interface HostResolverOptions {
  readonly lookup: LookupHost;
  /** A lookup that takes longer counts as failed (getaddrinfo cannot be cancelled, only left). @default 2000 */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;

/** Resolves the host names of a decoded state; remembers the last good address of each name. */
export class HostResolver {
  private readonly lastGood = new Map<string, string>();
  private readonly failing = new Set<string>();
  private names = false;

  constructor(private readonly options: HostResolverOptions) {}

  /** True when the last state resolved held a host name: a periodic pass then catches DNS changes. */
  hasNames(): boolean {
    return this.names;
  }

  /** The state with every host name replaced by one IP (`hostname` keeps the name); see the module note. */
  async resolve(state: ClusterState, log: Logger): Promise<ClusterState> {
    const wanted = [...new Set(state.nodes.filter((n) => !isIpLiteral(n.address)).map((n) => n.address))];
    this.names = wanted.length > 0;
    if (!this.names) return state;
    const answers = await Promise.all(wanted.map(async (name) => [name, await this.resolveName(name, log)] as const));
    return replaceHostNames(state, new Map(answers));
  }

  private async resolveName(name: string, log: Logger): Promise<Resolution> {
    const previous = this.lastGood.get(name);
    let found: Resolution;
    try {
      found = chooseAddress(name, await this.lookupWithin(name), previous);
    } catch (err) {
      found = { ok: false, reason: describeError(err) };
    }
    if (found.ok) {
      if (this.failing.delete(name)) log.info({ hostname: name, address: found.address }, `host name ${name} resolves again`);
      if (previous !== found.address) {
        log.info({ hostname: name, address: found.address, ...(previous ? { from: previous } : {}) }, `host name ${name} resolved to ${found.address}`);
      }
      this.lastGood.set(name, found.address);
      return found;
    }
    if (previous === undefined) return found;
    if (!this.failing.has(name)) {
      this.failing.add(name);
      log.warn({ hostname: name, address: previous, reason: found.reason }, `host name ${name} does not resolve (${found.reason}); keeping its last address ${previous}`);
    }
    return { ok: true, address: previous };
  }

  private lookupWithin(name: string): Promise<readonly string[]> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.options.lookup(name), timeout]).finally(() => clearTimeout(timer));
  }
}

export type Resolution = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly reason: string };

/**
 * One address out of a lookup's answers: the current one while it is still among them (round-robin DNS
 * must not move a server at every pass), else the first IPv4, else the first IPv6. Answers that are not
 * usable server addresses (unspecified, zone ids) are skipped.
 */
export function chooseAddress(name: string, answers: readonly string[], current: string | undefined): Resolution {
  const usable = answers.flatMap((a) => {
    const checked = a.includes(':') ? checkIPv6(a) : checkIPv4(a);
    return checked.ok ? [checked.value] : [];
  });
  if (current !== undefined && usable.includes(current)) return { ok: true, address: current };
  const chosen = usable.find((a) => !a.includes(':')) ?? usable[0];
  if (chosen === undefined) {
    return { ok: false, reason: answers.length === 0 ? 'no address' : `no usable address among ${answers.join(', ')}` };
  }
  return { ok: true, address: chosen };
}

/**
 * Pure: puts the resolved addresses in place of the names. A node whose name has no address is rejected
 * against its main key, and so is a node that lands on the ip:port of a node registered before it, by the
 * model's own rule ({@link compareEstablished}): two servers for one node would double its share, and the
 * established one is the server HAProxy already has UP.
 */
export function replaceHostNames(state: ClusterState, resolved: ReadonlyMap<string, Resolution>): ClusterState {
  const rejected: Rejection[] = [...state.rejected];
  const kept = new Map<GaleraNode, GaleraNode>();
  const owners = new Map<string, string>();
  for (const node of [...state.nodes].sort(compareEstablished)) {
    let next: GaleraNode = node;
    if (!isIpLiteral(node.address)) {
      const found = resolved.get(node.address) ?? { ok: false, reason: 'not looked up' };
      if (!found.ok) {
        rejected.push({ key: mainKeyOf(node), id: node.id, reason: `host name ${node.address} does not resolve: ${found.reason} (node left out until it does)` });
        continue;
      }
      next = { ...node, address: found.address, hostname: node.address };
    }
    const endpoint = formatEndpoint(next.address, next.port);
    const owner = owners.get(endpoint);
    if (owner !== undefined) {
      const what = next.hostname === undefined ? endpoint : `${next.hostname} resolves to ${endpoint}, which`;
      rejected.push({ key: mainKeyOf(node), id: node.id, reason: duplicateEndpointReason(what, owner) });
      continue;
    }
    owners.set(endpoint, mainKeyOf(node));
    kept.set(node, next);
  }
  // Back in the model's order (by name), which the render relies on.
  const nodes = state.nodes.flatMap((n) => kept.get(n) ?? []);
  return { ...state, nodes, rejected };
}

/** The key that holds the address: `<id>/ip` in the seed layout, the one flat key otherwise. */
function mainKeyOf(node: GaleraNode): string {
  return node.keys.find((k) => k.endsWith('/ip')) ?? node.keys[0] ?? node.id;
}
