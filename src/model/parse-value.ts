import {
  DEFAULT_PORT,
  DEFAULT_WEIGHT,
  checkAddress,
  checkHostname,
  checkIPv6,
  checkPortNumber,
  checkPortText,
  checkWeightNumber,
  checkWeightText,
  checkPriorityNumber,
  checkPriorityText,
  cleanValue,
  quote,
  type Checked,
} from './validate-address.js';

/** The fields of a node before it gets its server name. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
  readonly host?: string;
  /** Out of rotation (HAProxy `state drain`): present, and true, only for a draining node. */
  readonly draining?: true;
  /** Writer priority (single-writer mode), when the node registered one; absent = 1. */
  readonly priority?: number;
}

/** A flat value decoded, with the JSON fields that were ignored because this version does not know them. */
export interface FlatValue {
  readonly endpoint: Endpoint;
  readonly ignoredFields: readonly string[];
}

export const JSON_FIELDS = ['ip', 'port', 'weight', 'backup', 'host', 'draining', 'priority'] as const;

/**
 * One flat value: `ip`, `host`, `ip:port`, `[ipv6]`, `[ipv6]:port`, a bare IPv6 address (all of it is the
 * address: `::1:3306` is an IPv6 address, write `[::1]:3306` for a port), or a JSON object.
 */
export function parseFlatValue(raw: string, defaultPort: number = DEFAULT_PORT): Checked<FlatValue> {
  const cleaned = cleanValue(raw);
  if (!cleaned.ok) return cleaned;
  const value = cleaned.value;
  if (value.startsWith('{')) return parseJsonValue(value, defaultPort);

  let addressText: string;
  let portText: string | undefined;
  if (value.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
    if (!match) return { ok: false, reason: `${quote(value)} is not of the form [ipv6] or [ipv6]:port` };
    const inner = checkIPv6(match[1] ?? '');
    if (!inner.ok) return inner;
    addressText = inner.value;
    portText = match[2];
  } else {
    const colons = value.split(':').length - 1;
    if (colons === 1) {
      const at = value.indexOf(':');
      addressText = value.slice(0, at);
      portText = value.slice(at + 1);
      if (addressText.length === 0) return { ok: false, reason: `${quote(value)} has a port but no address` };
    } else {
      addressText = value;
    }
  }

  const address = checkAddress(addressText);
  if (!address.ok) return address;
  let port = defaultPort;
  if (portText !== undefined) {
    const checked = checkPortText(portText);
    if (!checked.ok) return checked;
    port = checked.value;
  }
  return { ok: true, value: { endpoint: { address: address.value, port, weight: DEFAULT_WEIGHT, backup: false }, ignoredFields: [] } };
}

/**
 * `{"ip": "...", "port": 3306, "weight": 10, "backup": false, "host": "...", "draining": false, "priority": 2}`.
 * `port`, `weight` and `priority` (writer preference in single-writer mode: higher first, 0 never) may be
 * numbers or decimal strings (`"3306"`, as the seed layout's text keys are read); anything else in them is
 * refused. Unknown fields (`"datacenter"`, written by a newer registrar or another tool) are ignored and
 * returned in `ignoredFields`: refusing them would take a healthy node out of HAProxy over data nobody here
 * reads, and a typo such as `"wieght"` still shows up in the debug log.
 */
export function parseJsonValue(value: string, defaultPort: number = DEFAULT_PORT): Checked<FlatValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `value is not valid JSON (${detail})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'JSON value must be an object like {"ip":"10.0.0.1","port":3306}' };
  }
  const record = parsed as Record<string, unknown>;
  const ignoredFields = Object.keys(record).filter((k) => !(JSON_FIELDS as readonly string[]).includes(k));

  const ip = record['ip'];
  if (ip === undefined) return { ok: false, reason: 'JSON has no "ip" key' };
  if (typeof ip !== 'string') return { ok: false, reason: `JSON "ip" must be a string, got ${jsonType(ip)}` };
  // The JSON string may carry escaped control characters (`\n`), which only exist after parsing.
  const ipClean = cleanValue(ip);
  if (!ipClean.ok) return { ok: false, reason: `JSON "ip": ${ipClean.reason}` };
  const bracketed = /^\[(.*)\]$/.exec(ipClean.value);
  const address = bracketed ? checkIPv6(bracketed[1] ?? '') : checkAddress(ipClean.value);
  if (!address.ok) return address;

  const port = readInteger(record, 'port', defaultPort, checkPortNumber, checkPortText);
  if (!port.ok) return port;
  const weight = readInteger(record, 'weight', DEFAULT_WEIGHT, checkWeightNumber, checkWeightText);
  if (!weight.ok) return weight;
  const priority = record['priority'] === undefined ? null : readInteger(record, 'priority', 0, checkPriorityNumber, checkPriorityText);
  if (priority !== null && !priority.ok) return priority;

  const backup = record['backup'] ?? false;
  if (typeof backup !== 'boolean') {
    return { ok: false, reason: `JSON "backup" must be true or false, got ${jsonType(backup)}` };
  }

  const draining = record['draining'] ?? false;
  if (typeof draining !== 'boolean') {
    return { ok: false, reason: `JSON "draining" must be true or false, got ${jsonType(draining)}` };
  }

  let host: string | undefined;
  if (record['host'] !== undefined) {
    const checked = checkHostText(record['host']);
    if (!checked.ok) return { ok: false, reason: `JSON "host": ${checked.reason}` };
    host = checked.value;
  }
  const endpoint: Endpoint = {
    address: address.value,
    port: port.value,
    weight: weight.value,
    backup,
    ...(draining ? { draining } : {}),
    ...(priority === null ? {} : { priority: priority.value }),
  };
  return { ok: true, value: { endpoint: host === undefined ? endpoint : { ...endpoint, host }, ignoredFields } };
}

/** The informational host name: shown in logs and comments only, but still held to RFC 1123. */
export function checkHostText(raw: unknown): Checked<string> {
  if (typeof raw !== 'string') return { ok: false, reason: `host must be a string, got ${jsonType(raw)}` };
  const cleaned = cleanValue(raw);
  if (!cleaned.ok) return cleaned;
  return checkHostname(cleaned.value);
}

function readInteger(
  record: Record<string, unknown>,
  key: 'port' | 'weight' | 'priority',
  fallback: number,
  check: (n: number) => Checked<number>,
  checkText: (text: string) => Checked<number>,
): Checked<number> {
  const raw = record[key];
  if (raw === undefined) return { ok: true, value: fallback };
  let checked: Checked<number>;
  if (typeof raw === 'number') checked = check(raw);
  else if (typeof raw === 'string') {
    // The same rules as the seed layout's text keys: surrounding blanks trimmed, then digits only.
    const cleaned = cleanValue(raw);
    checked = cleaned.ok ? checkText(cleaned.value) : cleaned;
  } else return { ok: false, reason: `JSON "${key}" must be an integer or a decimal string, got ${jsonType(raw)}` };
  return checked.ok ? checked : { ok: false, reason: `JSON "${key}": ${checked.reason}` };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `string ${quote(value)}`;
  return `${typeof value} ${String(value)}`;
}
