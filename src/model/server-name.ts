/** Longest sanitised part kept from an id; the hash suffix keeps longer ids distinct. */
export const MAX_NAME_BODY = 32;

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `text`, as 8 hex digits. Tiny, pure and stable across Node
 * versions, which is all a name suffix needs (it is not a security boundary: `decodeCluster` still
 * checks the final names for uniqueness).
 */
export function fnv1a32(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * HAProxy server name for a node id. HAProxy accepts only `[A-Za-z0-9_.:-]` in names, so anything else
 * becomes `_` and the body is cut to {@link MAX_NAME_BODY} characters. When the id had to change, a hash of
 * the raw id is appended, so `db 1` and `db/1` (both `db_1`) still get distinct names. A pure function of
 * the id alone: the same node keeps the same name in every render, which lets the runtime API address it.
 */
export function serverNameFor(id: string): string {
  const body = nameBody(id);
  if (body === id && id.length > 0) return id;
  return hashedNameFor(id);
}

function nameBody(id: string): string {
  return id.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, MAX_NAME_BODY);
}

/** The sanitised id with the hash of the raw id appended, even when the id needed no change. */
function hashedNameFor(id: string): string {
  return `${nameBody(id)}-${fnv1a32(id)}`;
}

/**
 * How server names are chosen (template variable `server_names`):
 * - `host`: the node's `host` (seed layout key or JSON field) when it has one, else a short form of the id
 *   (the first group of a UUID, the id itself when it is already a valid name);
 * - `id`: {@link serverNameFor} of the id, as every earlier version named servers.
 */
export const SERVER_NAMINGS = ['host', 'id'] as const;
export type ServerNaming = (typeof SERVER_NAMINGS)[number];
export const DEFAULT_SERVER_NAMING: ServerNaming = 'host';

const UUID = /^([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The names a node may take, best first; the caller gives it the first one no node registered earlier
 * holds. Every candidate depends on the node's own keys only, never on its address nor on other nodes, so
 * a name survives re-addressing and other nodes coming and going (a rename is a remove + add in HAProxy).
 * The last candidate always carries a hash of the id, which keeps distinct ids apart.
 */
export function serverNameCandidates(id: string, host: string | undefined, naming: ServerNaming): string[] {
  const full = serverNameFor(id);
  if (naming === 'id') return [full];
  const uuid = UUID.exec(id);
  const short = uuid?.[1]?.toLowerCase() ?? full;
  // A checked host name is letters, digits, '-' and '.': always a valid HAProxy name as it is. A host
  // may also spell another node's plain id, so the hashed form is the last resort for every node.
  return [...new Set([...(host === undefined ? [] : [host]), short, full, hashedNameFor(id)])];
}
