import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type UpdateOutcome = 'noop' | 'runtime' | 'reload' | 'failed' | 'guarded';

/** Every metric the daemon exports, on a registry of its own (no global state between instances). */
export interface Metrics {
  readonly registry: Registry;
  readonly updates: Counter<'outcome'>;
  readonly unableToSync: Gauge;
  readonly nodes: Gauge<'state' | 'service'>;
  readonly applySeconds: Histogram<'outcome'>;
  readonly etcdLastHeard: Gauge;
  readonly etcdRevision: Gauge;
  /** Single-writer mode: the writer record's epoch (its etcd mod_revision; 0 = no record). */
  readonly writerEpoch: Gauge<'service'>;
  /** Single-writer mode: 1 while the record's writer is registered and UP in this proxy's HAProxy. */
  readonly writerAgrees: Gauge<'service'>;
  readonly writerProposals: Counter<'service' | 'outcome'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  return {
    registry,
    updates: new Counter({
      name: 'galera_haproxy_updates_total',
      help: 'Sync passes by outcome: noop, runtime (Runtime API only), reload, failed, guarded (min-servers held)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    unableToSync: new Gauge({
      name: 'galera_haproxy_unable_to_sync',
      help: '1 while the last sync pass failed or was held back, so HAProxy may lag etcd',
      registers: [registry],
    }),
    nodes: new Gauge({
      name: 'galera_haproxy_nodes',
      help: 'Nodes under each service\'s prefix at the last pass, by service and state (valid, rejected, incomplete; draining counts the valid nodes that are draining)',
      labelNames: ['state', 'service'],
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: 'galera_haproxy_apply_duration_seconds',
      help: 'Time from the start of a sync pass to a confirmed HAProxy state',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    etcdLastHeard: new Gauge({
      name: 'galera_haproxy_etcd_last_heard_timestamp_seconds',
      help: 'When etcd last answered (response, event or progress notification), Unix seconds',
      registers: [registry],
    }),
    etcdRevision: new Gauge({
      name: 'galera_haproxy_etcd_revision',
      help: 'etcd revision the mirror of the prefix has reached (every change up to it applied)',
      registers: [registry],
    }),
    writerEpoch: new Gauge({
      name: 'galera_haproxy_writer_epoch',
      help: "Single writer: the epoch (etcd mod_revision) of the service's writer record this proxy renders; 0 = no record",
      labelNames: ['service'],
      registers: [registry],
    }),
    writerAgrees: new Gauge({
      name: 'galera_haproxy_writer_agrees',
      help: "Single writer: 1 while the record's writer is registered and UP in this proxy's HAProxy, 0 while it is not (writes wait)",
      labelNames: ['service'],
      registers: [registry],
    }),
    writerProposals: new Counter({
      name: 'galera_haproxy_writer_proposals_total',
      help: 'Single writer: compare-and-swap proposals of a new writer by this proxy, by outcome (won, lost, failed)',
      labelNames: ['service', 'outcome'],
      registers: [registry],
    }),
  };
}
