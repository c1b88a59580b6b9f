import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';

/**
 * The benches run with two services by default, as the seed's HAProxy did: the Galera section they
 * measure, and a web tier (HTTP, its own prefix and listener) that is configured and checked alongside,
 * so the figures include whatever a second service costs. `--services 1` runs the Galera section alone
 * from flags, as before config files existed.
 */
export interface ServicesSetup {
  /** Arguments for render/once/watch: `--config-file` with two services, or the flags of one. */
  readonly args: string[];
  /** Web servers registered under the web prefix (none with one service). */
  register(client: Etcd3): Promise<void>;
}

export function servicesSetup(options: {
  count: number;
  dir: string;
  etcdEndpoint: string;
  galeraPrefix: string;
  galeraListen: string;
  vars: Record<string, string>;
  webListen: string;
  /** `ip:port` of each web server (an HTTP server answering GET / with 200). */
  webServers: readonly string[];
}): ServicesSetup {
  const sets = Object.entries(options.vars).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  if (options.count === 1) {
    return { args: ['--etcd-endpoints', options.etcdEndpoint, '--prefix', options.galeraPrefix, '--set', `listen=${options.galeraListen}`, ...sets], register: async () => undefined };
  }
  const webPrefix = `${options.galeraPrefix}-web`;
  const yaml = [
    `etcd-endpoints: ${options.etcdEndpoint}`,
    'set:',
    ...Object.entries(options.vars).map(([k, v]) => `  ${k}: "${v}"`),
    'services:',
    '  - name: galera',
    `    prefix: ${options.galeraPrefix}`,
    `    listen: "${options.galeraListen}"`,
    '    check: { type: http, method: OPTIONS, port: 9200 }',
    '  - name: web',
    `    prefix: ${webPrefix}`,
    `    listen: "${options.webListen}"`,
    '    mode: http',
    '    forward-for: true',
    '    check: { type: http, method: GET, path: / }',
    '',
  ].join('\n');
  const file = join(options.dir, 'config.yaml');
  writeFileSync(file, yaml);
  return {
    args: ['--config-file', file],
    register: async (client) => {
      for (const [i, server] of options.webServers.entries()) await client.put(`${webPrefix}/web${i}`).value(server);
    },
  };
}

/** `--services N` of a bench's command line (default 2). */
export function servicesArg(args: readonly string[]): number {
  const i = args.indexOf('--services');
  const n = i >= 0 ? Number(args[i + 1]) : 2;
  if (n !== 1 && n !== 2) throw new Error(`--services must be 1 or 2, not ${String(args[i + 1])}`);
  return n;
}
