import {
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  GRPCUnauthenticatedError,
} from 'etcd3';
import { SourceError } from '../errors.js';

/**
 * etcd3 reports a compaction only as the text of a watch cancel ("Watcher canceled: mvcc: required
 * revision has been compacted"), with no class or revision. The text decides only the error code in
 * logs; the source re-reads after any cancel, whatever the reason.
 */
const COMPACTED = /required revision has been compacted|compacted/i;

/** Maps an etcd3 error to a `SourceError`: auth problems are not retryable, everything else is. */
export function toSourceError(err: unknown, context: string): SourceError {
  if (err instanceof SourceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdRoleNotGrantedError ||
    err instanceof EtcdInvalidAuthTokenError ||
    err instanceof GRPCUnauthenticatedError
  ) {
    return new SourceError('ETCD_AUTH', `${context}: permission or authentication refused (${message})`, {
      cause: err,
      retryable: false,
    });
  }
  if (COMPACTED.test(message)) {
    return new SourceError('ETCD_COMPACTED', `${context}: history compacted past our revision`, {
      cause: err,
      retryable: true,
    });
  }
  return new SourceError('ETCD_UNAVAILABLE', `${context}: ${message}`, { cause: err, retryable: true });
}

/** gRPC and socket texts an operator should not have to decode, in the order they are tried. */
const UNREACHABLE: readonly [RegExp, (timeoutS: string) => string][] = [
  [/SSL|TLS|certificate|handshake|wrong version number/i, () => 'TLS handshake failed'],
  [/ECONNREFUSED/, () => 'connection refused'],
  [/ENOTFOUND|EAI_AGAIN/, () => 'host name does not resolve'],
  [/EHOSTUNREACH|ENETUNREACH/, () => 'host unreachable'],
  [/DEADLINE_EXCEEDED|ETIMEDOUT|deadline/i, (s) => `no answer in ${s} s`],
  [/circuit breaker is open/i, () => 'unreachable; the client waits before trying again'],
  [/ECONNRESET|unexpectedly ended|Connection dropped/i, () => 'connection lost'],
];

/**
 * "etcd at <endpoints>: connection refused" for a failure to reach etcd, null for anything else (the
 * raw text then stays the message). The raw gRPC text belongs at debug, next to this line.
 */
export function explainUnreachable(raw: string, endpoints: readonly string[], requestTimeoutMs: number): string | null {
  const hit = UNREACHABLE.find(([pattern]) => pattern.test(raw));
  if (hit === undefined) return null;
  return `etcd at ${endpoints.join(', ')}: ${hit[1](String(Math.round(requestTimeoutMs / 100) / 10))}`;
}
