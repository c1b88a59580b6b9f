import { parseConfig, structureOf, type ParsedServer } from './parse-servers.js';
import type { Plan, RuntimeOp, RuntimeServer, ServerSpec } from './types.js';
import { AdminState, forcedOutOfRotation } from './admin-state.js';
import { isIpLiteral } from '../model/validate-address.js';

export interface PlanInput {
  /** The config HAProxy was last confirmed to run, or null when unknown (first start). */
  readonly previousConfig: string | null;
  /** The config just rendered, checked and written. */
  readonly nextConfig: string;
  /** What `show servers state` reports now, or null when the stats socket could not be read. */
  readonly runtime: readonly RuntimeServer[] | null;
}

/**
 * The ops that change which servers HAProxy lists and how (membership, address, weight, role), as
 * opposed to admin states and sessions: a new worker is confirmed when none of these is left.
 */
export function changesServerList(op: RuntimeOp): boolean {
  return op.op === 'add' || op.op === 'remove' || op.op === 'set-addr' || op.op === 'set-weight' || op.op === 'set-backup';
}

const keyOf = (s: ServerSpec): string => `${s.backend}/${s.name}`;

/** The managed fields of a parsed server line, as an op carries them. */
const specOf = (s: ParsedServer): ServerSpec => ({ backend: s.backend, name: s.name, address: s.address, port: s.port, weight: s.weight, backup: s.backup });

function firstDifference(a: string, b: string): string {
  const left = a.split('\n');
  const right = b.split('\n');
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) {
    if (left[i] !== right[i]) {
      return `${JSON.stringify(left[i] ?? '<none>')} -> ${JSON.stringify(right[i] ?? '<none>')}`;
    }
  }
  return 'no difference';
}

function optionsReasons(previous: readonly ParsedServer[], next: readonly ParsedServer[]): string[] {
  const before = new Map(previous.map((s) => [keyOf(s), s.options.join(' ')]));
  const reasons: string[] = [];
  for (const server of next) {
    const old = before.get(keyOf(server));
    const now = server.options.join(' ');
    if (old !== undefined && old !== now) {
      reasons.push(`server ${keyOf(server)} options changed: "${old}" -> "${now}"`);
    }
  }
  return reasons;
}

/**
 * The admin-state op a server needs, if any. A server the file marks draining is put in DRAIN (also out
 * of a maintenance set by hand: the file says what it should be); one the previous file marked draining
 * and this one does not is set ready again (undrain); any other forced drain or maintenance is drift.
 */
function adminOp(server: ParsedServer, spec: ServerSpec, current: RuntimeServer, wasDraining: boolean): RuntimeOp | null {
  if (server.draining === true) {
    const drained = (current.adminState & (AdminState.FDRAIN | AdminState.FMAINT)) === AdminState.FDRAIN;
    return drained ? null : { op: 'set-state', server: spec, state: 'drain' };
  }
  if (!forcedOutOfRotation(current)) return null;
  if (wasDraining) return { op: 'set-state', server: spec, state: 'ready' };
  return { op: 'repair', server: spec, reason: `admin state ${current.adminState} (maintenance or drain) but wanted in service` };
}

/**
 * In a single-writer listener, the pass that lets a new writer in (its weight leaves 0) first cuts the
 * sessions still open on the other servers: they were opened on the old writer before the record moved,
 * and the handover was their grace. Past it they would be writes on a second node.
 */
function leftoverSessionOps(next: readonly ParsedServer[], live: ReadonlyMap<string, RuntimeServer>, singleWriter: ReadonlySet<string>): RuntimeOp[] {
  const ops: RuntimeOp[] = [];
  for (const backend of singleWriter) {
    const servers = next.filter((s) => s.backend === backend);
    const incoming = servers.find((s) => s.weight > 0 && live.get(keyOf(s))?.weight === 0);
    if (incoming === undefined) continue;
    for (const server of servers) {
      const current = live.get(keyOf(server));
      if (server === incoming || server.weight !== 0 || current === undefined || current.sessions === 0) continue;
      ops.push({ op: 'shutdown-sessions', server: specOf(server), reason: `${incoming.name} takes the writes of ${backend}` });
    }
  }
  return ops;
}

function runtimeOps(next: readonly ParsedServer[], runtime: readonly RuntimeServer[], reasons: string[], wasDraining: ReadonlySet<string>, singleWriter: ReadonlySet<string>): RuntimeOp[] {
  const live = new Map(runtime.map((s) => [keyOf(s), s]));
  const wanted = new Set(next.map(keyOf));
  const backends = new Set(next.map((s) => s.backend));
  const adds: RuntimeOp[] = [];
  const updates: RuntimeOp[] = [];
  const removes: RuntimeOp[] = [];

  for (const server of next) {
    const current = live.get(keyOf(server));
    const spec = specOf(server);
    const named = !isIpLiteral(server.address);
    if (current === undefined) {
      // 2.6 adds a server named by a host name without an address (`-`, SOCKERR): only a reload resolves it.
      if (named) reasons.push(`server ${keyOf(server)} is new with host name ${server.address}, which the runtime API cannot resolve`);
      else adds.push({ op: 'add', server: spec });
      continue;
    }
    if (current.backup !== server.backup) {
      // Runtime cannot flip `backup`; the server is replaced, which also carries address and weight.
      updates.push({ op: 'set-backup', server: spec });
      continue;
    }
    // A host name in the file matches the name HAProxy resolves, an IP the address it uses: a server that
    // was moved from a name to an IP keeps its stale `srv_fqdn`, which must not read as a difference.
    const where = named ? current.fqdn : current.address;
    if (where !== server.address || current.port !== server.port) {
      if (!named) {
        updates.push({ op: 'set-addr', server: spec, from: { address: current.address, port: current.port } });
      } else {
        reasons.push(`server ${keyOf(server)} moved to hostname ${server.address}, which the runtime API cannot resolve`);
      }
    }
    if (current.weight !== server.weight) {
      updates.push({ op: 'set-weight', server: spec, from: current.weight });
    }
    const admin = adminOp(server, spec, current, wasDraining.has(keyOf(server)));
    if (admin !== null) updates.push(admin);
  }
  for (const server of runtime) {
    // Backends that the config does not hold are a structural matter, caught by structureOf.
    if (!wanted.has(keyOf(server)) && backends.has(server.backend)) {
      removes.push({ op: 'remove', server });
    }
  }
  // Capacity first: new servers before updates, removals last. Leftover writer sessions are cut before
  // the weight that lets the new writer in, in the same batch.
  return [...adds, ...leftoverSessionOps(next, live, singleWriter), ...updates, ...removes];
}

/**
 * Compares what HAProxy runs with the config just rendered. Server membership, address, weight and
 * backup changes become runtime ops; anything else that HAProxy would only learn from the file is a
 * reload reason. Runtime state, not the previous file, is the base for the ops, so drift is repaired too.
 */
export function planChanges(input: PlanInput): Plan {
  const next = parseConfig(input.nextConfig);
  const reasons: string[] = [];
  const previous = input.previousConfig === null ? [] : parseConfig(input.previousConfig).servers;
  const wasDraining = new Set(previous.filter((s) => s.draining === true).map(keyOf));
  if (input.previousConfig === null) {
    reasons.push('the running config is unknown (first apply)');
  } else {
    const before = structureOf(input.previousConfig);
    const after = structureOf(input.nextConfig);
    if (before !== after) reasons.push(`config structure changed: ${firstDifference(before, after)}`);
    reasons.push(...optionsReasons(previous, next.servers));
  }
  if (input.runtime === null) {
    reasons.push('the runtime state could not be read');
    return { runtimeOps: [], reloadReasons: reasons };
  }
  const ops = runtimeOps(next.servers, input.runtime, reasons, wasDraining, next.singleWriter);
  return { runtimeOps: reasons.length > 0 ? [] : ops, reloadReasons: reasons };
}
