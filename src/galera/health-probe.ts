import http from 'node:http';
import https from 'node:https';

/** Whether a health URL answered 200 within the timeout; any other outcome counts as unhealthy. */
export type HealthProbe = (url: string, timeoutMs: number) => Promise<{ healthy: boolean; detail: string }>;

export const probeHealthUrl: HealthProbe = (url, timeoutMs) =>
  new Promise((resolve) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      resolve({ healthy: false, detail: `invalid URL ${url}` });
      return;
    }
    const get = parsed.protocol === 'https:' ? https.get : http.get;
    // A fresh connection per probe: a kept-alive socket to a dead checker would hide that it died.
    const req = get(parsed, { timeout: timeoutMs, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ healthy: status === 200, detail: `HTTP ${String(status)}` });
    });
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${String(timeoutMs)} ms`));
    });
    req.on('error', (err) => {
      resolve({ healthy: false, detail: err.message });
    });
  });
