import { normalizePrefix } from '../model/prefix.js';
import type { ServiceSpec } from '../model/service.js';
import { DEFAULT_PORT } from '../model/validate-address.js';
import { defaultVars } from './template-vars.js';

/**
 * The one service of a run without a config file: the Galera section that the flags and template
 * variables have always described. The default template renders it to the very bytes it rendered before
 * services existed (the golden files hold that). HAProxy's bare `option httpchk` sends `OPTIONS /`, so
 * that is the check's method here.
 */
export function implicitService(vars: Readonly<Record<string, string>>, options: { prefix: string; minServers: number }): ServiceSpec {
  const all = { ...defaultVars(), ...vars };
  const writer = all['writer'] === 'single' ? 'single' : 'multi';
  const readListen = all['read_listen'] ?? '';
  return {
    name: all['backend'] ?? 'galera',
    prefix: normalizePrefix(options.prefix),
    listen: [all['listen'] ?? '0.0.0.0:3306'],
    mode: 'tcp',
    balance: writer === 'single' ? 'first' : 'leastconn',
    check: { type: 'http', method: 'OPTIONS', path: '/', port: Number(all['check_port'] ?? 9200), expectStatus: 200 },
    serverOptions: [],
    forwardFor: false,
    minServers: options.minServers,
    defaultPort: DEFAULT_PORT,
    writer,
    ...(readListen === '' ? {} : { readListen }),
  };
}
