import { request } from 'node:http';

export interface HttpReply {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

/** One request on a fresh connection (as HAProxy's checks are), the whole body read. */
export function httpGet(
  port: number,
  options: { json?: boolean; method?: string; host?: string; path?: string; timeoutMs?: number } = {},
): Promise<HttpReply> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: options.json === true ? { accept: 'application/json' } : {},
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers['content-type']) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${options.host ?? '127.0.0.1'}:${String(port)} in ${String(timeoutMs)} ms`)));
    req.on('error', reject);
    req.end();
  });
}
