import { Counter, Gauge, Registry } from 'prom-client';
import { HEALTH_REASONS, type HealthReason, type HealthVerdict } from '../galera/node-health.js';

/** What `clustercheck` serves on `/metrics`, on a registry of its own. */
export interface ClustercheckMetrics {
  readonly registry: Registry;
  /** After each status read: the state gauge, the queue gauge. */
  recordVerdict(verdict: HealthVerdict): void;
  /** After each HTTP answer to a health check. */
  recordAnswer(verdict: HealthVerdict): void;
  /** After each status query to mysqld (a burst of checks served from one counts once). */
  recordRead(reachable: boolean): void;
}

export function createClustercheckMetrics(): ClustercheckMetrics {
  const registry = new Registry();
  const state = new Gauge<'reason'>({
    name: 'galera_haproxy_clustercheck_state',
    help: 'The reason of the current answer: 1 for it, 0 for every other reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const healthy = new Gauge({
    name: 'galera_haproxy_clustercheck_healthy',
    help: '1 while the clustercheck answers 200, 0 while it answers 503',
    registers: [registry],
  });
  const answers = new Counter<'status' | 'reason'>({
    name: 'galera_haproxy_clustercheck_answers_total',
    help: 'Health check answers by HTTP status and reason',
    labelNames: ['status', 'reason'],
    registers: [registry],
  });
  const reads = new Counter<'outcome'>({
    name: 'galera_haproxy_clustercheck_status_reads_total',
    help: 'Status queries sent to mysqld, by outcome (ok, failed); cached and shared checks cost none',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const recvQueue = new Gauge({
    name: 'galera_haproxy_clustercheck_wsrep_local_recv_queue',
    help: 'wsrep_local_recv_queue at the last status read (write-sets waiting to be applied)',
    registers: [registry],
  });
  // Every reason present from the start, so a query or an alert sees 0 → 1, not a series appearing.
  const setReason = (current: HealthReason | null): void => {
    for (const reason of HEALTH_REASONS) state.set({ reason }, reason === current ? 1 : 0);
  };
  setReason(null);
  return {
    registry,
    recordVerdict(verdict) {
      setReason(verdict.reason);
      healthy.set(verdict.healthy ? 1 : 0);
      if (verdict.wsrepLocalRecvQueue !== null) recvQueue.set(verdict.wsrepLocalRecvQueue);
    },
    recordAnswer(verdict) {
      answers.inc({ status: verdict.healthy ? '200' : '503', reason: verdict.reason });
    },
    recordRead(reachable) {
      reads.inc({ outcome: reachable ? 'ok' : 'failed' });
    },
  };
}
