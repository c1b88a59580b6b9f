import type { KeyValue } from './types.js';
import { quote } from './validate-address.js';

/**
 * The single-writer record: one etcd key per Galera service that names the one node every proxy sends
 * writes to. It is changed only by compare-and-swap on the key's `mod_revision`, which is therefore the
 * record's epoch: two proxies that saw the same epoch cannot both move it.
 */
export interface WriterRecord {
  /** The node id as registered (the `<uuid>` path segment under the prefix). */
  readonly node: string;
  /** The proxy that wrote the record (`--proxy-id`, the host name by default). */
  readonly by: string;
  /** Why it was written, one line. */
  readonly reason: string;
  /** When it was written (ISO 8601), for people; never compared. */
  readonly at?: string;
}

/** A service's writer as one proxy renders it: for /status, metrics and tests. */
export interface WriterView {
  /** The record's etcd key. */
  readonly key: string;
  /** The record's epoch (etcd mod_revision) as decimal text; null without a record. */
  readonly epoch: string | null;
  /** The node id the record names; null without a (decodable) record. */
  readonly node: string | null;
  /** The server this proxy's write listener sends writes to; null: none (writes wait). */
  readonly server: string | null;
  readonly by?: string;
  readonly reason?: string;
  readonly at?: string;
  /** Why the record does not decode, when it does not. */
  readonly malformed?: string;
  /** True while the record's writer is registered and UP in this HAProxy (this proxy would not propose). */
  readonly agrees: boolean;
  /**
   * The record moved from one writer to another less than the handover ago: the new writer takes writes
   * in this many ms (until then no server does). 0 otherwise.
   */
  readonly holdMs: number;
}

export type ReadRecord =
  | { readonly kind: 'none' }
  | { readonly kind: 'ok'; readonly record: WriterRecord; readonly epoch: bigint }
  /** A value that is not a record: reported once, treated as no record, replaced by the next proposal. */
  | { readonly kind: 'malformed'; readonly epoch: bigint; readonly reason: string };

const MAX_RECORD_LENGTH = 4096;
/** Ids and proxy names are path segments and host names: printable, no blanks, bounded. */
const TOKEN = /^[\x21-\x7e]{1,253}$/;

/** Reads the record under `key` from a view; never throws: anything unexpected is `malformed` with a reason. */
export function readWriterRecord(key: string, kvs: readonly KeyValue[]): ReadRecord {
  const kv = kvs.find((k) => k.key === key);
  if (kv === undefined) return { kind: 'none' };
  const epoch = kv.modRevision ?? 0n;
  const checked = decodeWriterRecord(kv.value);
  return typeof checked === 'string' ? { kind: 'malformed', epoch, reason: checked } : { kind: 'ok', record: checked, epoch };
}

/** The record of a value, or the reason it is not one (one line, the value quoted and bounded). */
export function decodeWriterRecord(value: string): WriterRecord | string {
  if (value.length > MAX_RECORD_LENGTH) return `writer record is longer than ${MAX_RECORD_LENGTH} bytes`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return `writer record ${quote(value)} is not JSON`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `writer record ${quote(value)} is not a JSON object`;
  const fields = parsed as Record<string, unknown>;
  const node = fields['node'];
  const by = fields['by'];
  const reason = fields['reason'];
  const at = fields['at'];
  if (typeof node !== 'string' || !TOKEN.test(node)) return `writer record "node" must be a node id (printable, no blanks), got ${quote(JSON.stringify(node) ?? 'nothing')}`;
  if (typeof by !== 'string' || !TOKEN.test(by)) return `writer record "by" must be a proxy id (printable, no blanks), got ${quote(JSON.stringify(by) ?? 'nothing')}`;
  if (typeof reason !== 'string' || !/^[\x20-\x7e]{0,512}$/.test(reason)) return 'writer record "reason" must be one line of printable text';
  if (at !== undefined && (typeof at !== 'string' || !/^[0-9TZ:.+-]{1,40}$/.test(at))) return 'writer record "at" must be an ISO 8601 time';
  return { node, by, reason, ...(at === undefined ? {} : { at }) };
}

export function encodeWriterRecord(record: WriterRecord): string {
  return JSON.stringify({ node: record.node, by: record.by, reason: record.reason, ...(record.at === undefined ? {} : { at: record.at }) });
}

/** A proxy id as `--proxy-id` takes it (the same rule as the record's `by`), or the reason it is not one. */
export function checkProxyId(value: string): string | null {
  return TOKEN.test(value) ? null : 'must be 1-253 printable ASCII characters without blanks';
}
