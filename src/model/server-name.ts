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
  const body = id.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, MAX_NAME_BODY);
  if (body === id && id.length > 0) return id;
  return `${body}-${fnv1a32(id)}`;
}
