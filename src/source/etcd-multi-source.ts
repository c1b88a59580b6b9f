import type { Logger } from '../observe/logger.js';
import { createEtcdSource, type EtcdClusterSource, type EtcdSourceDeps } from './etcd-source.js';
import type { EtcdSourceOptions } from './etcd-options.js';
import { createMultiPrefixSource, type MultiPrefixSource } from './multi-prefix-source.js';

/**
 * Every prefix mirrored by its own etcd source (own client, own watch) with the same connection
 * options; `options.prefix` is ignored. Each source logs with its `prefix`, so the lines of several
 * watches can be told apart.
 */
export function createEtcdMultiSource(
  options: EtcdSourceOptions,
  prefixes: readonly string[],
  logger: Logger,
  deps: Omit<EtcdSourceDeps, 'client'> = {},
): MultiPrefixSource<EtcdClusterSource> {
  return createMultiPrefixSource(prefixes, (prefix) => createEtcdSource({ ...options, prefix }, logger.child({ prefix }), deps), logger);
}
