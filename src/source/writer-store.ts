import type { Etcd3 } from 'etcd3';
import type { KeyValue } from '../model/types.js';

/** What a compare-and-swap of the writer record found: won (the new epoch) or lost (what etcd holds now). */
export type SwapResult =
  | { readonly won: true; readonly kv: KeyValue }
  /** `kv` is null when the key does not exist (it was deleted since the epoch seen). */
  | { readonly won: false; readonly kv: KeyValue | null };

/** The one way the writer record changes. Injected into the sync pass; null where nothing may be written. */
export interface WriterStore {
  /**
   * Puts `value` under `key` only if the key's `mod_revision` is still `epoch` (0: only if the key does
   * not exist, etcd's `version == 0`). Rejects on an etcd error; the caller tries again on its next pass.
   */
  swap(key: string, epoch: bigint, value: string): Promise<SwapResult>;
}

/**
 * The writer record's compare-and-swap through an etcd3 transaction: `if mod_revision(key) == epoch then
 * put else get`, so a lost race also says, in the same round trip, which record won.
 */
export function createEtcdWriterStore(client: () => Etcd3): WriterStore {
  return {
    async swap(key, epoch, value) {
      const etcd = client();
      const guard = epoch === 0n ? etcd.if(key, 'Version', '==', 0) : etcd.if(key, 'Mod', '==', epoch.toString());
      const res = await guard.then(etcd.put(key).value(value)).else(etcd.get(key)).commit();
      if (res.succeeded) {
        // The put's own revision is the new mod_revision: the record's new epoch.
        const revision = BigInt(res.header.revision);
        return { won: true, kv: { key, value, modRevision: revision, ...(epoch === 0n ? { createRevision: revision } : {}) } };
      }
      const found = res.responses[0]?.response_range?.kvs[0];
      if (found === undefined) return { won: false, kv: null };
      return {
        won: false,
        kv: { key, value: found.value.toString('utf8'), createRevision: BigInt(found.create_revision), modRevision: BigInt(found.mod_revision) },
      };
    },
  };
}
