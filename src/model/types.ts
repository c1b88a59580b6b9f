/** A key/value pair exactly as etcd holds it (key and value decoded as UTF-8). */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /**
   * etcd's `create_revision`: the revision at which the key was last created (a put over an existing key
   * keeps it). Absent for values that do not come from etcd (a `--nodes` file); those rank as oldest.
   */
  readonly createRevision?: bigint;
  /**
   * etcd's `mod_revision`: the revision of the key's last put. The single-writer record's epoch. Absent
   * for values that do not come from etcd.
   */
  readonly modRevision?: bigint;
}

/** A key as etcd stores it, with its lease and last write: what operator commands write beside it. */
export interface StoredKeyValue extends KeyValue {
  /** Lease id in decimal, `0` for none. */
  readonly lease: string;
  readonly modRevision: bigint;
}

/** A Galera node that passed validation and may be rendered into haproxy.cfg. */
export interface GaleraNode {
  /** The `<id>` path segment under the prefix, as registered (untrusted, never rendered raw). */
  readonly id: string;
  /** HAProxy server name derived from `id`: sanitised, unique, and stable across renders. */
  readonly name: string;
  /**
   * IPv4, IPv6 (without brackets) or RFC 1123 hostname as decoded; after host name resolution, always an IP
   * literal, with the registered name kept in {@link hostname}.
   */
  readonly address: string;
  /** The host name the node registered, when {@link address} is the IP it was resolved to. */
  readonly hostname?: string;
  readonly port: number;
  /** 0–256; 0 keeps the server configured but gives it no new connections. */
  readonly weight: number;
  readonly backup: boolean;
  /** Informational host name registered with the node (seed layout `host` key). */
  readonly host?: string;
  /**
   * The node is leaving or under maintenance (`<id>/draining` = `true`, or `"draining": true` in JSON):
   * its server is put in HAProxy's DRAIN state, no new client and the open sessions left to finish.
   * Present only when true.
   */
  readonly draining?: true;
  /**
   * Writer preference in single-writer mode (seed `priority` key or JSON `priority`): higher is proposed
   * first, 0 is never proposed. Absent = 1.
   */
  readonly priority?: number;
  /** The etcd keys this node was decoded from. */
  readonly keys: readonly string[];
  /**
   * The lowest `create_revision` among {@link keys}: when the node registered. Of two nodes claiming one
   * address or name, the one registered first keeps it. Absent when the keys carry no revision.
   */
  readonly createRevision?: bigint;
  /**
   * The service (HAProxy section) the node belongs to; absent for a state decoded for one prefix alone,
   * which renders into the first service.
   */
  readonly service?: string;
}

/** Why a key or node under the prefix was not turned into a server. */
export interface Rejection {
  readonly key: string;
  readonly id: string;
  readonly reason: string;
  /** The service whose prefix holds the key, when decoded for a set of services. */
  readonly service?: string;
}

/** Everything decoded from the prefix at one revision. */
export interface ClusterState {
  /** Valid nodes, sorted by `name`. */
  readonly nodes: readonly GaleraNode[];
  /** Values that failed validation: logged, never rendered. */
  readonly rejected: readonly Rejection[];
  /** Nodes still being registered (seed layout without `ip` yet): not an error. */
  readonly incomplete: readonly Rejection[];
  /** Parts of a value ignored on purpose (a JSON field this version does not know): worth a debug line. */
  readonly notes?: readonly Rejection[];
  /**
   * A node is held back for one pass (a seed `ip` without `port` that appeared since the previous pass):
   * the daemon runs another pass shortly even when etcd stays quiet, so the node is not held forever.
   */
  readonly settleSoon?: true;
  /**
   * Single-writer services: the server each one's write listener sends writes to (null: none, writes
   * wait), from the service's writer record. Set by the sync pass, read by the renderer.
   */
  readonly writers?: ReadonlyMap<string, string | null>;
}
