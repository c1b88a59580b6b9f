// `node:net`'s isIPv6 is a pure string check (no socket, no DNS), so the model may use it and stay pure.
import { isIPv6 } from 'node:net';

/**
 * Validation of the values a node is registered with. Each check returns either the parsed value or a
 * reason an operator can act on in one line; none of them throws, because a bad value is data, not a bug.
 */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(reason: string): Checked<T> => ({ ok: false, reason });

export const DEFAULT_PORT = 3306;
/** HAProxy's own default server weight. */
export const DEFAULT_WEIGHT = 1;
export const MAX_WEIGHT = 256;
/** Longer values are not addresses; refusing them early keeps hostile blobs out of logs. */
export const MAX_VALUE_LENGTH = 1024;

/** Shows a value in a reason: JSON-quoted so control characters are visible, and bounded. */
export function quote(value: string): string {
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  // JSON.stringify escapes C0 but not DEL, C1 or U+2028/2029; escape those too so a reason stays one line.
  return JSON.stringify(shown).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Trims ASCII whitespace at both ends only (a trailing newline from `echo` is common and harmless), then
 * refuses anything that could change the meaning of a config line: control characters anywhere (a newline
 * inside a value would start a new directive), `#` (starts a comment), or an over-long value.
 */
export function cleanValue(raw: string): Checked<string> {
  const value = raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  if (value.length === 0) return bad('value is empty');
  if (value.length > MAX_VALUE_LENGTH) return bad(`value is ${value.length} characters long (max ${MAX_VALUE_LENGTH})`);
  const control = findControlCharacter(value);
  if (control !== undefined) {
    const code = control.toString(16).padStart(4, '0');
    return bad(`value ${quote(value)} contains control character U+${code.toUpperCase()}`);
  }
  if (value.includes('#')) return bad(`value ${quote(value)} contains '#', which starts a comment in haproxy.cfg`);
  return ok(value);
}

/**
 * The first C0 (including NUL, tab, CR, LF), DEL, C1 or Unicode line/paragraph separator code unit in
 * `value`, or undefined. None belongs in an address or a config line: HAProxy splits lines on LF and
 * tokens on whitespace, and a reader's terminal may act on the rest.
 */
export function findControlCharacter(value: string): number | undefined {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) return code;
  }
  return undefined;
}

/** Dotted quad, each part 0–255 written without leading zeros (010 reads as octal to some tools). */
export function checkIPv4(value: string): Checked<string> {
  const parts = value.split('.');
  if (parts.length !== 4) return bad(`${quote(value)} is not a dotted-quad IPv4 address`);
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return bad(`${quote(value)} is not a dotted-quad IPv4 address`);
    if (part.length > 1 && part.startsWith('0')) {
      return bad(`IPv4 address ${quote(value)} has a leading zero in ${quote(part)} (ambiguous: octal or decimal)`);
    }
    if (Number(part) > 255) return bad(`IPv4 address ${quote(value)} has part ${part} out of range 0-255`);
  }
  if (value === '0.0.0.0') return bad('IPv4 address "0.0.0.0" is unspecified and cannot be a server');
  return ok(value);
}

/**
 * IPv6 without brackets, returned in canonical (compressed, lower-case) form so that two spellings of one
 * address compare equal. Zone ids (`fe80::1%eth0`) are refused: they name an interface of the host that
 * wrote the key, not of the HAProxy host.
 */
export function checkIPv6(value: string): Checked<string> {
  if (value.includes('%')) return bad(`IPv6 address ${quote(value)} has a zone id, which is not supported`);
  if (!isIPv6(value)) return bad(`${quote(value)} is not a valid IPv6 address`);
  // The WHATWG URL parser is pure and canonicalises IPv6 (RFC 5952 compression, lower case).
  const canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  if (canonical === '::') return bad('IPv6 address "::" is unspecified and cannot be a server');
  return ok(canonical);
}

/**
 * RFC 1123 host name: labels of 1–63 letters, digits and hyphens, not starting or ending with a hyphen,
 * 253 characters in all. A name whose last label is all digits is refused, so that a mistyped IPv4 address
 * (`10.0.0.256`, `10.0.0.01`) is reported as such instead of being taken for a host name.
 */
export function checkHostname(value: string): Checked<string> {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) {
    return bad(`host name ${quote(value)} must be 1-253 characters long, got ${name.length}`);
  }
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) return bad(`host name ${quote(value)} has an empty label`);
    if (label.length > 63) return bad(`host name ${quote(value)} has a label longer than 63 characters`);
    if (!/^[A-Za-z0-9-]+$/.test(label)) {
      return bad(`host name ${quote(value)} may contain only letters, digits, '-' and '.'`);
    }
    if (label.startsWith('-') || label.endsWith('-')) {
      return bad(`host name ${quote(value)} has a label starting or ending with '-'`);
    }
  }
  const last = labels[labels.length - 1] ?? '';
  if (/^\d+$/.test(last)) return bad(`${quote(value)} is neither a valid IPv4 address nor a host name`);
  return ok(name.toLowerCase());
}

/** Any address a server may have: IPv4, IPv6 (bare) or a host name; the reason matches the form tried. */
export function checkAddress(value: string): Checked<string> {
  if (value.includes(':')) return checkIPv6(value);
  if (/^[\d.]+$/.test(value)) return checkIPv4(value);
  return checkHostname(value);
}

/**
 * True for an address that `checkAddress` accepted as IPv4 or IPv6; false for a host name (whose last
 * label is never all digits, so a dotted quad cannot be one).
 */
export function isIpLiteral(address: string): boolean {
  return address.includes(':') || /^[\d.]+$/.test(address);
}

/** A port written as text: decimal digits only, no sign, exponent, hex or leading zero; 1–65535. */
export function checkPortText(value: string): Checked<number> {
  if (!/^\d+$/.test(value)) return bad(`port ${quote(value)} is not a decimal integer`);
  if (value.length > 1 && value.startsWith('0')) return bad(`port ${quote(value)} has a leading zero`);
  return checkPortNumber(Number(value), value);
}

export function checkPortNumber(port: number, shown: string = String(port)): Checked<number> {
  if (!Number.isSafeInteger(port)) return bad(`port ${quote(shown)} is not an integer`);
  if (port < 1 || port > 65535) return bad(`port ${quote(shown)} is out of range 1-65535`);
  return ok(port);
}

export function checkWeightText(value: string): Checked<number> {
  return checkCountText('weight', value, MAX_WEIGHT);
}

export function checkWeightNumber(weight: number, shown: string = String(weight)): Checked<number> {
  return checkCountNumber('weight', weight, MAX_WEIGHT, shown);
}

/** Writer priority (single-writer mode): higher is preferred, 0 = never proposed as the writer. */
export const DEFAULT_PRIORITY = 1;
export const MAX_PRIORITY = 1_000_000;

export function checkPriorityText(value: string): Checked<number> {
  return checkCountText('priority', value, MAX_PRIORITY);
}

export function checkPriorityNumber(priority: number, shown: string = String(priority)): Checked<number> {
  return checkCountNumber('priority', priority, MAX_PRIORITY, shown);
}

/** A whole number 0..max written as text: decimal digits only, no sign, exponent or leading zero. */
function checkCountText(label: string, value: string, max: number): Checked<number> {
  if (!/^\d+$/.test(value)) return bad(`${label} ${quote(value)} is not a decimal integer`);
  if (value.length > 1 && value.startsWith('0')) return bad(`${label} ${quote(value)} has a leading zero`);
  return checkCountNumber(label, Number(value), max, value);
}

function checkCountNumber(label: string, n: number, max: number, shown: string): Checked<number> {
  if (!Number.isSafeInteger(n)) return bad(`${label} ${quote(shown)} is not an integer`);
  if (n < 0 || n > max) return bad(`${label} ${quote(shown)} is out of range 0-${max}`);
  return ok(n);
}

/** `true`/`false` only: `yes`, `1` and friends are guesses, and a wrong guess moves all the traffic. */
export function checkBackupText(value: string): Checked<boolean> {
  return checkSwitchText('backup', value);
}

/** The `draining` attribute: `true` takes the node out of rotation without cutting its sessions. */
export function checkDrainingText(value: string): Checked<boolean> {
  return checkSwitchText('draining', value);
}

function checkSwitchText(field: string, value: string): Checked<boolean> {
  if (value === 'true') return ok(true);
  if (value === 'false') return ok(false);
  return bad(`${field} ${quote(value)} must be "true" or "false"`);
}
