import type { Etcd3, Lease } from 'etcd3';
import { SourceError, describeError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { sleep, whenAborted } from '../lib/sleep.js';
import { Backoff, type BackoffOptions } from '../lib/backoff.js';
import { probeHealthUrl, type HealthProbe } from './health-probe.js';
import { buildRegistrationKeys, type RegistrationLayout } from './registration-keys.js';
import { validateRegistration } from './validate-registration.js';

export interface RegistrationOptions {
  readonly id: string;
  readonly ip: string;
  readonly port: number;
  /** Informational, written as `<prefix>/<id>/host` in the seed layout. */
  readonly host?: string;
  /** Lease TTL: how long a node that died without revoking stays registered. @default 10 */
  readonly ttlSeconds: number;
  readonly layout: RegistrationLayout;
  readonly prefix: string;
  /** Register only while this URL answers 200 (typically the node's clustercheck). */
  readonly whenHealthyUrl?: string;
  /** @default 1000 */
  readonly healthIntervalMs?: number;
  /** @default 1000 */
  readonly healthTimeoutMs?: number;
  /** Consecutive failed probes before deregistering; 1 flake must not drop a healthy node. @default 2 */
  readonly healthFall?: number;
  /**
   * On stop, the node is first marked draining (watchers put its server in DRAIN: no new client, open
   * sessions finish) and the lease is revoked this long after; 0 revokes at once. @default 5000
   */
  readonly drainGraceMs?: number;
  readonly client: Etcd3;
}

export type RegistrationEvent =
  | { readonly type: 'registered'; readonly leaseId: string; readonly keys: readonly string[] }
  | { readonly type: 'draining'; readonly graceMs: number }
  | { readonly type: 'deregistered'; readonly reason: 'unhealthy' | 'stopped' }
  | { readonly type: 'lost'; readonly error: string };

export interface RegistrationDeps {
  readonly logger: Logger;
  /** Abort to stop: the node drains for the grace, then the lease is revoked so it leaves. */
  readonly signal: AbortSignal;
  /** Abort to cut the drain grace short (a second stop signal): the lease is revoked at once. */
  readonly hurry?: AbortSignal;
  readonly probe?: HealthProbe;
  readonly onEvent?: (event: RegistrationEvent) => void;
}

/** Bounds the revoke on shutdown: with etcd down the lease simply expires after its TTL. */
const REVOKE_TIMEOUT_MS = 3_000;
/** Bounds the draining mark on shutdown: with etcd down, the node leaves when its lease expires anyway. */
const MARK_TIMEOUT_MS = 2_000;
export const DEFAULT_DRAIN_GRACE_MS = 5_000;
/** After an etcd outage every node re-registers at once: jitter keeps them off the recovering cluster in lockstep. */
const REGISTER_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, jitter: 'half-ceiling' };

type Ending = { kind: 'lost'; error: unknown } | { kind: 'unhealthy'; detail: string } | { kind: 'aborted' };

/**
 * Keeps one node registered under the prefix until the signal aborts. Resolves after the final
 * revoke; never rejects for etcd trouble (that is retried with backoff), only for invalid options.
 */
export async function runRegistration(options: RegistrationOptions, deps: RegistrationDeps): Promise<void> {
  const record = validateRegistration(options);
  const kvs = buildRegistrationKeys(options.prefix, options.layout, record);
  const { logger, signal } = deps;
  const probe = deps.probe ?? probeHealthUrl;
  const log = logger.child({ id: record.id, keys: kvs.map((kv) => kv.key) });
  let backoff = new Backoff(REGISTER_BACKOFF);
  const interval = options.healthIntervalMs ?? 1_000;
  const timeout = options.healthTimeoutMs ?? 1_000;

  while (!signal.aborted) {
    if (options.whenHealthyUrl !== undefined) {
      const healthy = await waitUntilHealthy(options.whenHealthyUrl, probe, interval, timeout, signal, log);
      if (!healthy) break;
    }

    let lease: Lease;
    try {
      lease = await grantAndWrite(options, kvs);
    } catch (err) {
      const delay = backoff.duration;
      backoff = backoff.next();
      log.warn({ err: describeError(err), retryInMs: delay }, 'registration failed; retrying');
      await sleep(delay, signal);
      continue;
    }
    const leaseId = await lease.grant();
    backoff = backoff.reset();
    log.info({ leaseId, ttl: options.ttlSeconds }, 'registered');
    deps.onEvent?.({ type: 'registered', leaseId, keys: kvs.map((kv) => kv.key) });

    const ending = await waitForEnding(lease, options, probe, signal, log);
    if (ending.kind === 'lost') {
      const delay = backoff.duration;
      backoff = backoff.next();
      log.warn({ leaseId, err: describeError(ending.error), retryInMs: delay }, 'lease lost; registering again');
      deps.onEvent?.({ type: 'lost', error: describeError(ending.error) });
      await sleep(delay, signal);
      continue;
    }
    if (ending.kind === 'aborted') {
      // A node that fails its health check is already out of HAProxy's rotation; one that is asked to
      // stop still serves sessions, which finish while proxies drain it.
      await drainBeforeLeaving(options, kvs, buildRegistrationKeys(options.prefix, options.layout, { ...record, draining: true }), leaseId, deps, log);
    }
    await revokeQuietly(lease, log);
    const reason = ending.kind === 'unhealthy' ? 'unhealthy' : 'stopped';
    log.info({ leaseId, reason, detail: ending.kind === 'unhealthy' ? ending.detail : undefined }, 'deregistered');
    deps.onEvent?.({ type: 'deregistered', reason });
  }
}

async function grantAndWrite(
  options: RegistrationOptions,
  kvs: readonly { key: string; value: string }[],
): Promise<Lease> {
  const { client } = options;
  const lease = client.lease(options.ttlSeconds, { autoKeepAlive: true });
  try {
    const leaseId = await lease.grant();
    const ops = kvs.map((kv) => client.put(kv.key).value(kv.value).lease(leaseId));
    const first = kvs[0];
    if (first === undefined) throw new SourceError('ETCD_UNAVAILABLE', 'no keys to register');
    // One transaction so a watcher never sees `port` without `ip`; the compare always holds, it is
    // only there because etcd3's builder starts a transaction with one.
    await client.if(first.key, 'Version', '>', -1).then(...ops).else(...ops).commit();
    return lease;
  } catch (err) {
    lease.release();
    await lease.revoke({ deadline: Date.now() + 1_000 }).catch(() => undefined);
    throw new SourceError('ETCD_UNAVAILABLE', `could not register ${kvs.map((kv) => kv.key).join(', ')}`, {
      cause: err,
      retryable: true,
    });
  }
}

async function waitForEnding(
  lease: Lease,
  options: RegistrationOptions,
  probe: HealthProbe,
  signal: AbortSignal,
  log: Logger,
): Promise<Ending> {
  const local = new AbortController();
  const onKeepaliveFailed = (): void => {
    // Recoverable: the lease is only gone when etcd says so or the TTL has surely passed.
    log.warn('lease keepalive failed; retrying');
  };
  lease.on('keepaliveFailed', onKeepaliveFailed);
  const lost = new Promise<Ending>((resolve) => {
    lease.once('lost', (error) => resolve({ kind: 'lost', error }));
  });
  const aborted = whenAborted(signal).then((): Ending => ({ kind: 'aborted' }));
  const contenders = [lost, aborted];
  if (options.whenHealthyUrl !== undefined) {
    contenders.push(
      watchUntilUnhealthy(
        options.whenHealthyUrl,
        probe,
        options.healthIntervalMs ?? 1_000,
        options.healthTimeoutMs ?? 1_000,
        options.healthFall ?? 2,
        local.signal,
        log,
      ),
    );
  }
  try {
    return await Promise.race(contenders);
  } finally {
    local.abort();
    lease.off('keepaliveFailed', onKeepaliveFailed);
  }
}

async function waitUntilHealthy(
  url: string,
  probe: HealthProbe,
  intervalMs: number,
  timeoutMs: number,
  signal: AbortSignal,
  log: Logger,
): Promise<boolean> {
  let lastDetail = '';
  while (!signal.aborted) {
    const result = await probe(url, timeoutMs);
    if (result.healthy) return true;
    if (result.detail !== lastDetail) {
      log.info({ url, detail: result.detail }, 'waiting for the node to become healthy');
      lastDetail = result.detail;
    }
    await sleep(intervalMs, signal);
  }
  return false;
}

async function watchUntilUnhealthy(
  url: string,
  probe: HealthProbe,
  intervalMs: number,
  timeoutMs: number,
  fall: number,
  signal: AbortSignal,
  log: Logger,
): Promise<Ending> {
  let failures = 0;
  for (;;) {
    await sleep(intervalMs, signal);
    // Never settles once stopped: the race has already been decided by something else.
    if (signal.aborted) return new Promise<Ending>(() => undefined);
    const result = await probe(url, timeoutMs);
    if (signal.aborted) return new Promise<Ending>(() => undefined);
    if (result.healthy) {
      failures = 0;
      continue;
    }
    failures += 1;
    log.warn({ url, detail: result.detail, failures, fall }, 'health check failed');
    if (failures >= fall) return { kind: 'unhealthy', detail: result.detail };
  }
}

/**
 * Marks the node draining under its own lease, then waits the grace while proxies drain it. Bounded: the
 * mark gives up after {@link MARK_TIMEOUT_MS}, and a second stop signal (`hurry`) ends the wait at once.
 */
async function drainBeforeLeaving(
  options: RegistrationOptions,
  kvs: readonly { key: string; value: string }[],
  draining: readonly { key: string; value: string }[],
  leaseId: string,
  deps: RegistrationDeps,
  log: Logger,
): Promise<void> {
  const graceMs = options.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
  // A function, not a value: the signal may abort while this waits.
  const hurried = (): boolean => deps.hurry?.aborted === true;
  if (graceMs <= 0 || hurried()) return;
  const { client } = options;
  const changed = draining.filter((kv) => !kvs.some((k) => k.key === kv.key && k.value === kv.value));
  const ops = changed.map((kv) => client.put(kv.key).value(kv.value).lease(leaseId));
  const first = changed[0];
  if (first === undefined) return;
  const outcome = await settleWithin(
    client.if(first.key, 'Version', '>', -1).then(...ops).else(...ops).commit(),
    MARK_TIMEOUT_MS,
    deps.hurry,
  );
  if (outcome.kind !== 'done') {
    const detail = outcome.kind === 'failed' ? describeError(outcome.error) : outcome.kind;
    log.warn({ leaseId, detail }, 'could not mark the node draining; leaving without the grace');
    return;
  }
  log.info({ leaseId, graceMs, keys: changed.map((kv) => kv.key) }, 'draining: proxies stop sending new clients; leaving after the grace');
  deps.onEvent?.({ type: 'draining', graceMs });
  await sleep(graceMs, deps.hurry);
  if (hurried()) log.info({ leaseId }, 'second stop signal: leaving now');
}

type Settled = { kind: 'done' } | { kind: 'failed'; error: unknown } | { kind: 'timed out' } | { kind: 'cut short' };

/** Waits for `work` at most `ms`, or until `cut` aborts; never rejects. */
async function settleWithin(work: Promise<unknown>, ms: number, cut?: AbortSignal): Promise<Settled> {
  const stop = new AbortController();
  const timer = sleep(ms, stop.signal).then((): Settled => ({ kind: 'timed out' }));
  const cutShort = cut === undefined ? [] : [whenAborted(cut).then((): Settled => ({ kind: 'cut short' }))];
  try {
    return await Promise.race([
      work.then(
        (): Settled => ({ kind: 'done' }),
        (error: unknown): Settled => ({ kind: 'failed', error }),
      ),
      timer,
      ...cutShort,
    ]);
  } finally {
    stop.abort();
  }
}

async function revokeQuietly(lease: Lease, log: Logger): Promise<void> {
  const outcome = await settleWithin(lease.revoke({ deadline: Date.now() + REVOKE_TIMEOUT_MS }), REVOKE_TIMEOUT_MS);
  if (outcome.kind === 'timed out') log.warn('lease revoke timed out; the node leaves when the TTL expires');
  if (outcome.kind === 'failed') log.warn({ err: describeError(outcome.error) }, 'lease revoke failed; the node leaves when the TTL expires');
}
