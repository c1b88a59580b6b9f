import type { Etcd3 } from 'etcd3';
import { normalizePrefix } from '../model/prefix.js';
import type { StoredKeyValue } from '../model/types.js';

/**
 * Every key under `prefix` at one revision, with leases and mod revisions (operator commands: status,
 * drain, undrain). The daemon's own reads go through the mirror in etcd-source.ts instead.
 */
export async function readPrefixOnce(client: Etcd3, prefix: string): Promise<{ revision: string; kvs: StoredKeyValue[] }> {
  const res = await client.getAll().prefix(normalizePrefix(prefix)).exec();
  return {
    revision: res.header.revision,
    kvs: res.kvs.map((kv) => ({
      key: kv.key.toString('utf8'),
      value: kv.value.toString('utf8'),
      createRevision: BigInt(kv.create_revision),
      lease: String(kv.lease),
      modRevision: BigInt(kv.mod_revision),
    })),
  };
}
