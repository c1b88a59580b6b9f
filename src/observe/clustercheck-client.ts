import type { ServiceSpec } from '../model/service.js';
import type { GaleraNode } from '../model/types.js';
import { printable, type ClustercheckAnswer } from './status-report.js';

/** The clustercheck URL of a node, when the service checks over HTTP (the port of the check, else the node's). */
export function clustercheckUrl(service: ServiceSpec, node: GaleraNode): string | null {
  if (service.check.type !== 'http') return null;
  const host = node.address.includes(':') ? `[${node.address}]` : node.address;
  return `http://${host}:${service.check.port ?? node.port}${service.check.path}`;
}

/**
 * Asks a node's clustercheck for its JSON view (`galera-haproxy clustercheck` answers it; a plain-text
 * clustercheck gives the code only). The answer is untrusted: only plain values of the expected types
 * are kept, each on one printable line.
 */
export async function askClustercheck(url: string, timeoutMs: number): Promise<ClustercheckAnswer> {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const answer: ClustercheckAnswer = { httpStatus: res.status };
  if (!(res.headers.get('content-type') ?? '').includes('application/json')) return answer;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return answer;
  }
  if (typeof body !== 'object' || body === null) return answer;
  const b = body as Record<string, unknown>;
  const text1 = (v: unknown): string | undefined => (typeof v === 'string' ? printable(v).slice(0, 200) : undefined);
  const state = text1(b['state']);
  const reason = text1(b['reason']);
  const queue = b['wsrep_local_recv_queue'];
  return {
    ...answer,
    ...(state === undefined ? {} : { state }),
    ...(reason === undefined ? {} : { reason }),
    ...(typeof queue === 'number' && Number.isSafeInteger(queue) && queue >= 0 ? { recvQueue: queue } : {}),
  };
}
