import type { HealthVerdict } from './node-health.js';

export interface CachedVerdict {
  readonly verdict: HealthVerdict;
  /** Epoch ms when the query behind this verdict finished. */
  readonly checkedAt: number;
}

export interface HealthCache {
  get(): Promise<CachedVerdict>;
}

/**
 * Every HAProxy in front of the node checks it, often several times a second: a burst of checks
 * shares one query in flight, and a result is reused for `cacheMs`.
 */
export function createHealthCache(
  evaluate: () => Promise<HealthVerdict>,
  options: { cacheMs: number; now?: () => number },
): HealthCache {
  const now = options.now ?? Date.now;
  let cached: CachedVerdict | null = null;
  let inFlight: Promise<CachedVerdict> | null = null;
  return {
    get(): Promise<CachedVerdict> {
      if (cached !== null && now() - cached.checkedAt < options.cacheMs) return Promise.resolve(cached);
      if (inFlight !== null) return inFlight;
      inFlight = evaluate()
        .then((verdict) => {
          cached = { verdict, checkedAt: now() };
          return cached;
        })
        .finally(() => {
          inFlight = null;
        });
      return inFlight;
    },
  };
}
