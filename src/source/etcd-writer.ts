import { circuitBreaker, ConsecutiveBreaker, handleWhen, retry, ExponentialBackoff } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { Backoff } from '../lib/backoff.js';
import type { EtcdSourceOptions } from './etcd-options.js';

/** The slice of grpc-js `Metadata` this module touches (etcd3 does not re-export the type). */
interface MetadataLike {
  clone(): MetadataLike;
  set(key: string, value: string): void;
}

interface PoolInternals {
  pool?: { authenticator?: { getMetadata(): Promise<MetadataLike>; invalidateMetadata(): void } };
}

/** Forces a fresh token on the next call (etcd3 does this itself only for unary requests). */
export function invalidateAuthToken(client: Etcd3): void {
  (client as unknown as PoolInternals).pool?.authenticator?.invalidateMetadata();
}

/**
 * etcd3 1.1.2 sends only the auth token as metadata and has no option for more, so the per-call
 * metadata promise is wrapped to add `hasleader=true`. etcd then refuses requests and cancels watch
 * streams on a member that has lost its leader, which is what moves us to a healthy member.
 */
function requireLeader(client: Etcd3): void {
  const authenticator = (client as unknown as PoolInternals).pool?.authenticator;
  if (authenticator === undefined) {
    throw new Error('etcd3 internals changed: cannot attach hasleader metadata (pool.authenticator missing)');
  }
  const original = authenticator.getMetadata.bind(authenticator);
  authenticator.getMetadata = async () => {
    const metadata = (await original()).clone();
    metadata.set('hasleader', 'true');
    return metadata;
  };
}

/**
 * An etcd3 client that honours endpoints, TLS, auth, deadlines and the reconnect backoff of `options`.
 * etcd3's defaults would retry a dead watch after up to 30 s and keep a failed host's circuit open 5 s;
 * both are shortened so a restart is noticed within the backoff cap.
 */
export function createEtcdClient(options: EtcdSourceOptions): Etcd3 {
  const config: IOptions = {
    hosts: [...options.endpoints],
    dialTimeout: options.dialTimeoutMs,
    // A black-holed connection (no RST) would otherwise look like a quiet, healthy watch forever.
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      // Only while a call (the watch, a lease keepalive) is open: etcd answers pings on an idle
      // connection with GOAWAY too_many_pings.
      'grpc.keepalive_permit_without_calls': 0,
    },
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + options.requestTimeoutMs },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: Math.max(options.backoff.initialMs, Math.min(1000, options.backoff.maxMs)),
          breaker: new ConsecutiveBreaker(3),
        }),
      // Retries hop to another host; the caller's own loop handles longer outages with backoff.
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: Math.max(1, options.endpoints.length),
        backoff: new ExponentialBackoff({ initialDelay: options.backoff.initialMs, maxDelay: options.backoff.maxMs }),
      }),
      watchBackoff: new Backoff({ ...options.backoff, jitter: 'half-initial' }),
    },
    ...(options.tls === undefined
      ? {}
      : {
          credentials: {
            rootCertificate: options.tls.ca,
            ...(options.tls.cert === undefined || options.tls.key === undefined
              ? {}
              : { certChain: options.tls.cert, privateKey: options.tls.key }),
          },
        }),
    ...(options.auth === undefined
      ? {}
      : { auth: { username: options.auth.username, password: options.auth.password } }),
  };
  const client = new Etcd3(config);
  if (options.requireLeader) requireLeader(client);
  return client;
}
