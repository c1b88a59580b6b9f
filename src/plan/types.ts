/** A `server` line of a rendered haproxy.cfg, as HAProxy would run it. */
export interface ServerSpec {
  /** The `listen` or `backend` section holding the server. */
  readonly backend: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
}

/** What HAProxy reports for one server through `show servers state`. */
export interface RuntimeServer extends ServerSpec {
  /** operational state: 0 = stopped/down, 1 = starting, 2 = running/up, 3 = soft-stopping. */
  readonly operState: number;
  /** admin state bit field (1 FMAINT, 2 IMAINT, 4 CMAINT, 8 FDRAIN, 16 IDRAIN, 32 RMAINT, 64 HMAINT). */
  readonly adminState: number;
  /**
   * The host name HAProxy resolves for this server (`srv_fqdn`), when it has one. `address` is always
   * `srv_addr`: `set server addr` changes that but leaves the name, so the name says nothing about where
   * the server points now.
   */
  readonly fqdn?: string;
  /** Sessions open on the server now (`scur` of `show stat`), when known. */
  readonly sessions?: number;
}

export type RuntimeOp =
  | { readonly op: 'add'; readonly server: ServerSpec }
  | { readonly op: 'remove'; readonly server: ServerSpec }
  | { readonly op: 'set-addr'; readonly server: ServerSpec; readonly from: { address: string; port: number } }
  | { readonly op: 'set-weight'; readonly server: ServerSpec; readonly from: number }
  | { readonly op: 'set-backup'; readonly server: ServerSpec }
  /** `drain`: the node is draining (no new client, sessions finish); `ready`: it is back in rotation. */
  | { readonly op: 'set-state'; readonly server: ServerSpec; readonly state: 'drain' | 'ready' }
  | { readonly op: 'repair'; readonly server: ServerSpec; readonly reason: string }
  /**
   * Sessions left on a server that no longer takes writes, cut as another server becomes the single
   * writer: past that instant they would be writes on a second node.
   */
  | { readonly op: 'shutdown-sessions'; readonly server: ServerSpec; readonly reason: string };

/** The plan is a value: runtime operations, and the reasons a reload is needed (none, no reload). */
export interface Plan {
  readonly runtimeOps: readonly RuntimeOp[];
  readonly reloadReasons: readonly string[];
  /**
   * Why server changes go through the Runtime API or a reload, with both estimates (e.g.
   * `runtime: 10000 ops est. 600 ms < reload est. 3.1 s`); set when the costs decided it.
   */
  readonly decision?: string;
}
