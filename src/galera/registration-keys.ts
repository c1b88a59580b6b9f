import { normalizePrefix } from '../model/prefix.js';
import type { KeyValue } from '../model/types.js';

/** How a node is written under the prefix; both are read back by the watcher's decoder. */
export type RegistrationLayout = 'seed' | 'flat';

export interface RegistrationRecord {
  readonly id: string;
  readonly ip: string;
  readonly port: number;
  readonly host?: string;
  /** Leaving: watchers put the node's server in DRAIN (no new client, open sessions finish). */
  readonly draining?: boolean;
}

/**
 * The keys one node owns. Seed layout keeps the confd-era shape (`<prefix>/<id>/{ip,port,host}`) so
 * existing readers keep working; flat layout is one JSON value, which a reader sees appear atomically.
 */
export function buildRegistrationKeys(
  prefix: string,
  layout: RegistrationLayout,
  record: RegistrationRecord,
): KeyValue[] {
  const base = `${normalizePrefix(prefix)}${record.id}`;
  if (layout === 'flat') {
    return [{ key: base, value: JSON.stringify({ ip: record.ip, port: record.port, ...(record.draining === true ? { draining: true } : {}) }) }];
  }
  const kvs: KeyValue[] = [
    { key: `${base}/ip`, value: record.ip },
    { key: `${base}/port`, value: String(record.port) },
  ];
  if (record.host !== undefined && record.host !== '') {
    kvs.push({ key: `${base}/host`, value: record.host });
  }
  if (record.draining === true) kvs.push({ key: `${base}/draining`, value: 'true' });
  return kvs;
}
