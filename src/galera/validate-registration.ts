import { ConfigError } from '../errors.js';
import { checkAddress, checkPortNumber } from '../model/validate-address.js';
import type { RegistrationRecord } from './registration-keys.js';

// One etcd path segment: a slash would silently nest the node under another id.
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/**
 * Rejects what the watcher would reject anyway (same validators), but at start-up with a usable
 * message instead of a node that silently never shows up in HAProxy.
 */
export function validateRegistration(input: {
  id: string;
  ip: string;
  port: number;
  host?: string;
}): RegistrationRecord {
  if (!NODE_ID.test(input.id)) {
    throw new ConfigError(
      `invalid --id ${JSON.stringify(input.id)}: use 1-128 characters from [A-Za-z0-9._:@-], starting with a letter or digit`,
    );
  }
  const bare = input.ip.startsWith('[') && input.ip.endsWith(']') ? input.ip.slice(1, -1) : input.ip;
  const address = checkAddress(bare);
  if (!address.ok) throw new ConfigError(`invalid --ip: ${address.reason}`);
  const port = checkPortNumber(input.port);
  if (!port.ok) throw new ConfigError(`invalid --port: ${port.reason}`);
  const record = { id: input.id, ip: address.value, port: port.value };
  return input.host === undefined || input.host === '' ? record : { ...record, host: input.host };
}
