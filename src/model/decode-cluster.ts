import { JSON_FIELDS, checkHostText, parseFlatValue, type Endpoint } from './parse-value.js';
import { DEFAULT_SERVER_NAMING, type ServerNaming } from './server-name.js';
import { assignNames, formatEndpoint, type NodeCandidate } from './assign-names.js';

export { duplicateEndpointReason, formatEndpoint } from './assign-names.js';
import type { ClusterState, GaleraNode, KeyValue, Rejection } from './types.js';
import { writerKeyOf, type ServiceSpec } from './service.js';
import { normalizePrefix } from './prefix.js';
import {
  DEFAULT_PORT,
  DEFAULT_WEIGHT,
  checkAddress,
  checkBackupText,
  checkDrainingText,
  checkIPv6,
  checkPortText,
  checkWeightText,
  checkPriorityText,
  cleanValue,
  quote,
  type Checked,
} from './validate-address.js';

/**
 * Leaf keys of the seed layout `<prefix>/<id>/<leaf>`. `weight`, `backup` and `priority` (the writer
 * preference of single-writer mode) extend the seed's layout so that it can say everything the JSON form
 * can; `service_instance_name` is written by the seed's registration loop and carries nothing HAProxy needs.
 * `draining` is also the one leaf allowed beside a flat value: an `ip:port` string has no room for an
 * attribute, and `galera-haproxy drain` marks a node of any layout the same way, without rewriting a value
 * that its registrar owns.
 */
const SEED_LEAVES = ['ip', 'port', 'host', 'weight', 'backup', 'draining', 'priority', 'service_instance_name'] as const;
type SeedLeaf = (typeof SEED_LEAVES)[number];

interface IdEntry {
  flat?: KeyValue;
  leaves: Map<SeedLeaf, KeyValue>;
}


/** Options of {@link decodeCluster}. */
export interface DecodeOptions {
  /** How server names are chosen. @default "host" */
  readonly serverNames?: ServerNaming;
  /** Port of a seed-layout node without a `port` key. @default 3306 */
  readonly defaultPort?: number;
  /**
   * The revision the previous pass decoded. A seed node registers with one put per key, `ip` first and
   * `port` a few ms later; a seed node whose `ip` key was created after this revision and has no `port`
   * yet is held back as `incomplete` for one pass instead of being served on the default port and
   * re-addressed a moment later. Absent (first pass, `once`, `render`): no node is held back.
   */
  readonly portMayFollowAfter?: bigint;
  /**
   * Keys under the prefix that are not nodes and are left out before decoding: the single-writer record
   * (`<prefix>/_writer` by default) lives beside the nodes so the same watch carries it.
   */
  readonly skipKeys?: ReadonlySet<string>;
  /**
   * Server names the previous pass gave (node id → name). A node keeps its name while it stays
   * registered, and no other node takes it: names follow registration order only for nodes new to this
   * pass. Without it, the node that held a shared host name leaving would hand that name to another
   * node, and HAProxy would see a healthy server removed and its name re-addressed (held DOWN until
   * checked): for `rise × inter` neither served.
   */
  readonly previousNames?: ReadonlyMap<string, string>;
  /**
   * Server names of the running config by `address:port` (as {@link formatEndpoint} writes it): a node
   * the previous pass did not name (the first pass after a start) keeps the name HAProxy already serves
   * its address under, when that name is one it may take. So a restart renames nothing.
   */
  readonly runningNames?: ReadonlyMap<string, string>;
}

/** Reason of a seed node held back by {@link DecodeOptions.portMayFollowAfter}. */
export const PORT_MAY_FOLLOW_REASON = 'no "port" key yet (may follow the "ip" key); waiting one pass';

/**
 * Decodes every key under `prefix` into validated nodes. Three layouts may be mixed under one prefix:
 * the seed's `<id>/ip`, `<id>/port`, `<id>/host`; flat `<id>` = `ip`, `ip:port` or `[ipv6]:port`; and
 * flat JSON. Nothing here throws on bad input: each bad key or node becomes a {@link Rejection} with a
 * one-line reason, and a seed-layout node without `ip` yet is `incomplete` (it is still registering), as is
 * one whose `port` may still follow (see {@link DecodeOptions.portMayFollowAfter}).
 *
 * Nodes claim addresses and names in the order they registered (lowest etcd `create_revision` of their
 * keys, then id in UTF-16 code-unit order), whatever order etcd returned the keys in:
 * - one address:port registered under two ids is rejected for the later registration, naming the key
 *   that holds it: two servers for one node would double its share, and the node registered first is the
 *   one HAProxy already serves and has checked UP, so a stray put must not replace it;
 * - server names are unique: a node whose preferred name is taken gets its next candidate
 *   ({@link serverNameCandidates}); a node left with none (with `server_names=id`, an id that spells out
 *   another id's hashed name) is rejected.
 * Keys outside the prefix (such as `/components/galera-old/…` matched by a bare range read) are skipped.
 */
export function decodeCluster(prefix: string, kvs: Iterable<KeyValue>, options: DecodeOptions = {}): ClusterState {
  const naming = options.serverNames ?? DEFAULT_SERVER_NAMING;
  const base = normalizePrefix(prefix);
  const rejected: Rejection[] = [];
  const incomplete: Rejection[] = [];
  const notes: Rejection[] = [];
  const entries = new Map<string, IdEntry>();

  for (const kv of kvs) {
    if (!kv.key.startsWith(base) || options.skipKeys?.has(kv.key) === true) continue;
    const segments = kv.key.slice(base.length).split('/');
    const id = segments[0] ?? '';
    if (id.length === 0) {
      rejected.push({ key: kv.key, id, reason: `key has no node id after the prefix ${JSON.stringify(base)}` });
      continue;
    }
    if (segments.length > 2) {
      rejected.push({ key: kv.key, id, reason: `key is deeper than ${base}<id>/<field> and is ignored` });
      continue;
    }
    const entry = entries.get(id) ?? { leaves: new Map<SeedLeaf, KeyValue>() };
    entries.set(id, entry);
    const leaf = segments[1];
    if (leaf === undefined) {
      entry.flat = kv;
    } else if (isSeedLeaf(leaf)) {
      entry.leaves.set(leaf, kv);
    } else {
      rejected.push({ key: kv.key, id, reason: `unknown field ${JSON.stringify(leaf)} is ignored (known: ${SEED_LEAVES.join(', ')})` });
    }
  }

  const candidates: Decoded[] = [];
  let settleSoon = false;
  for (const id of [...entries.keys()].sort(compareText)) {
    const entry = entries.get(id);
    const decoded = entry === undefined ? null : decodeEntry(base, id, entry, rejected, incomplete, notes, options.portMayFollowAfter, options.defaultPort ?? DEFAULT_PORT);
    if (decoded === 'wait') settleSoon = true;
    else if (decoded !== null) candidates.push(decoded);
  }
  candidates.sort(compareEstablished);

  const nodes = assignNames(candidates, naming, options, rejected);
  nodes.sort((a, b) => compareText(a.name, b.name));
  const state: ClusterState = notes.length === 0 ? { nodes, rejected, incomplete } : { nodes, rejected, incomplete, notes };
  return settleSoon ? { ...state, settleSoon: true } : state;
}

/** Registration order: lowest `create_revision` first (absent = oldest), then id. */
export function compareEstablished(
  a: { readonly id: string; readonly createRevision?: bigint },
  b: { readonly id: string; readonly createRevision?: bigint },
): number {
  const ra = a.createRevision ?? 0n;
  const rb = b.createRevision ?? 0n;
  return ra < rb ? -1 : ra > rb ? 1 : compareText(a.id, b.id);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isSeedLeaf(leaf: string): leaf is SeedLeaf {
  return (SEED_LEAVES as readonly string[]).includes(leaf);
}

type Decoded = NodeCandidate;

/** The lowest `create_revision` among `kvs`, or undefined when none carries one. */
function firstCreated(kvs: Iterable<KeyValue>): bigint | undefined {
  let first: bigint | undefined;
  for (const { createRevision } of kvs) {
    if (createRevision !== undefined && (first === undefined || createRevision < first)) first = createRevision;
  }
  return first;
}

function decodeEntry(
  base: string,
  id: string,
  entry: IdEntry,
  rejected: Rejection[],
  incomplete: Rejection[],
  notes: Rejection[],
  portMayFollowAfter: bigint | undefined,
  defaultPort: number,
): Decoded | 'wait' | null {
  const leafKeys = [...entry.leaves.values()].map((kv) => kv.key);
  const createRevision = firstCreated(entry.flat === undefined ? entry.leaves.values() : [entry.flat]);
  const revision = createRevision === undefined ? {} : { createRevision };
  const drainingKv = entry.leaves.get('draining');
  const draining = drainingKv === undefined ? { ok: true as const, value: false } : field(drainingKv, checkDrainingText);
  if (!draining.ok) {
    rejected.push({ key: drainingKv?.key ?? `${base}${id}/draining`, id, reason: draining.reason });
    return null;
  }
  if (entry.flat !== undefined && [...entry.leaves.keys()].some((leaf) => leaf !== 'draining')) {
    rejected.push({
      key: entry.flat.key,
      id,
      reason: `id is registered both as a flat value and as ${base}${id}/<field> keys; keep one layout`,
    });
    return null;
  }
  if (entry.flat !== undefined) {
    const parsed = parseFlatValue(entry.flat.value, defaultPort);
    if (!parsed.ok) {
      rejected.push({ key: entry.flat.key, id, reason: parsed.reason });
      return null;
    }
    const { endpoint, ignoredFields } = parsed.value;
    if (ignoredFields.length > 0) {
      notes.push({ key: entry.flat.key, id, reason: `JSON field ${ignoredFields.map((f) => quote(f)).join(', ')} ignored (known: ${JSON_FIELDS.join(', ')})` });
    }
    // Either mark drains the node: the registrar's JSON field or an operator's key beside the value.
    const drained = draining.value && endpoint.draining !== true ? { ...endpoint, draining: true as const } : endpoint;
    return { id, endpoint: drained, keys: [entry.flat.key, ...leafKeys], mainKey: entry.flat.key, ...revision };
  }

  const ipKv = entry.leaves.get('ip');
  if (ipKv === undefined) {
    incomplete.push({ key: `${base}${id}/ip`, id, reason: 'no "ip" key yet (node still registering)' });
    return null;
  }
  if (
    !entry.leaves.has('port') &&
    portMayFollowAfter !== undefined &&
    ipKv.createRevision !== undefined &&
    ipKv.createRevision > portMayFollowAfter
  ) {
    incomplete.push({ key: `${base}${id}/port`, id, reason: PORT_MAY_FOLLOW_REASON });
    return 'wait';
  }
  const address = field(ipKv, (v) => (/^\[.*\]$/.test(v) ? checkIPv6(v.slice(1, -1)) : checkAddress(v)));
  const port = optionalField(entry.leaves.get('port'), checkPortText, defaultPort);
  const weight = optionalField(entry.leaves.get('weight'), checkWeightText, DEFAULT_WEIGHT);
  const backup = optionalField(entry.leaves.get('backup'), checkBackupText, false);
  const priority = optionalField<number | null>(entry.leaves.get('priority'), checkPriorityText, null);
  for (const [checked, kv] of [
    [address, ipKv],
    [port, entry.leaves.get('port')],
    [weight, entry.leaves.get('weight')],
    [backup, entry.leaves.get('backup')],
    [priority, entry.leaves.get('priority')],
  ] as const) {
    if (!checked.ok) {
      rejected.push({ key: kv?.key ?? ipKv.key, id, reason: checked.reason });
      return null;
    }
  }
  if (!address.ok || !port.ok || !weight.ok || !backup.ok || !priority.ok) return null;

  let host: string | undefined;
  const hostKv = entry.leaves.get('host');
  if (hostKv !== undefined) {
    // Informational only: a bad host name is reported but does not keep a good node out of HAProxy.
    const checked = checkHostText(hostKv.value);
    if (checked.ok) host = checked.value;
    else rejected.push({ key: hostKv.key, id, reason: `${checked.reason} (field ignored, node kept)` });
  }
  const endpoint: Endpoint = {
    address: address.value,
    port: port.value,
    weight: weight.value,
    backup: backup.value,
    ...(draining.value ? { draining: true as const } : {}),
    ...(priority.value === null ? {} : { priority: priority.value }),
  };
  return { id, endpoint: host === undefined ? endpoint : { ...endpoint, host }, keys: leafKeys.sort(), mainKey: ipKv.key, ...revision };
}

function field<T>(kv: KeyValue, check: (value: string) => Checked<T>): Checked<T> {
  const cleaned = cleanValue(kv.value);
  return cleaned.ok ? check(cleaned.value) : cleaned;
}

function optionalField<T>(kv: KeyValue | undefined, check: (value: string) => Checked<T>, fallback: T): Checked<T> {
  return kv === undefined ? { ok: true, value: fallback } : field(kv, check);
}

/** The part of a service the decoder needs. */
export type DecodedService = Pick<ServiceSpec, 'name' | 'prefix' | 'defaultPort' | 'writerKey'>;

/**
 * Decodes each service's prefix on its own (names and addresses are unique within a section, not across
 * them: one machine may serve both the web tier and Galera) and tags every node and rejection with its
 * service. Keys under no service's prefix are skipped, as a watch on the prefixes would never see them,
 * and so is each service's writer record ({@link writerKeyOf}), which is not a node.
 */
export function decodeServices(
  services: readonly DecodedService[],
  kvs: readonly KeyValue[],
  options: Omit<DecodeOptions, 'defaultPort' | 'skipKeys' | 'previousNames' | 'runningNames'> & {
    readonly previous?: readonly GaleraNode[];
    /** The running config's servers (backend = service name), for names on a first pass. */
    readonly running?: readonly { readonly backend: string; readonly name: string; readonly address: string; readonly port: number }[];
  } = {},
): ClusterState {
  const { previous, running, ...decodeOptions } = options;
  const runningNames = (service: DecodedService): ReadonlyMap<string, string> =>
    new Map((running ?? []).filter((s) => s.backend === service.name).map((s) => [formatEndpoint(s.address, s.port), s.name]));
  // The previous pass's names of one service (untagged nodes are the first service's, as everywhere).
  const previousNames = (service: DecodedService, first: boolean): ReadonlyMap<string, string> =>
    new Map((previous ?? []).filter((n) => n.service === service.name || (first && n.service === undefined)).map((n) => [n.id, n.name]));
  if (services.length === 1 && services[0] !== undefined) {
    const only = services[0];
    return tagState(decodeCluster(only.prefix, kvs, { ...decodeOptions, defaultPort: only.defaultPort, skipKeys: new Set([writerKeyOf(only)]), previousNames: previousNames(only, true), runningNames: runningNames(only) }), only.name);
  }
  const nodes: GaleraNode[] = [];
  const rejected: Rejection[] = [];
  const incomplete: Rejection[] = [];
  const notes: Rejection[] = [];
  let settleSoon = false;
  for (const [i, service] of services.entries()) {
    const base = normalizePrefix(service.prefix);
    const state = tagState(
      decodeCluster(base, kvs.filter((kv) => kv.key.startsWith(base)), { ...decodeOptions, defaultPort: service.defaultPort, skipKeys: new Set([writerKeyOf(service)]), previousNames: previousNames(service, i === 0), runningNames: runningNames(service) }),
      service.name,
    );
    nodes.push(...state.nodes);
    rejected.push(...state.rejected);
    incomplete.push(...state.incomplete);
    notes.push(...(state.notes ?? []));
    settleSoon ||= state.settleSoon === true;
  }
  const all: ClusterState = notes.length === 0 ? { nodes, rejected, incomplete } : { nodes, rejected, incomplete, notes };
  return settleSoon ? { ...all, settleSoon } : all;
}

function tagState(state: ClusterState, service: string): ClusterState {
  const tag = <T extends object>(item: T): T & { service: string } => ({ ...item, service });
  return {
    ...state,
    nodes: state.nodes.map(tag),
    rejected: state.rejected.map(tag),
    incomplete: state.incomplete.map(tag),
    ...(state.notes === undefined ? {} : { notes: state.notes.map(tag) }),
  };
}

/** The nodes of one service; untagged nodes (a state decoded for one prefix) belong to the first. */
export function nodesOf(state: ClusterState, service: string, first: boolean): GaleraNode[] {
  return state.nodes.filter((n) => n.service === service || (first && n.service === undefined));
}
