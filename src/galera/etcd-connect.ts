import { Etcd3 } from 'etcd3';
import { ConfigError } from '../errors.js';

export interface EtcdConnectOptions {
  readonly endpoints: readonly string[];
  readonly username?: string;
  readonly password?: string;
}

/** `a:2379,http://b:2379` → `['http://a:2379', 'http://b:2379']`; the etcd3 client needs a scheme. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => (/^[a-z]+:\/\//i.test(part) ? part : `http://${part}`));
  if (endpoints.length === 0) throw new ConfigError('--etcd-endpoints is empty');
  for (const endpoint of endpoints) {
    try {
      new URL(endpoint);
    } catch (err) {
      throw new ConfigError(`invalid etcd endpoint ${JSON.stringify(endpoint)}`, { cause: err });
    }
  }
  return endpoints;
}

/** The etcd client the Galera-side commands use; one place to swap for the shared client factory. */
export function connectEtcd(options: EtcdConnectOptions): Etcd3 {
  return new Etcd3({
    hosts: [...options.endpoints],
    ...(options.username !== undefined && options.password !== undefined
      ? { auth: { username: options.username, password: options.password } }
      : {}),
  });
}
