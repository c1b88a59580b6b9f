import { RenderError } from '../errors.js';
import { findControlCharacter, quote } from '../model/validate-address.js';

/**
 * Control characters must never come out of a value into haproxy.cfg: a line break starts a new
 * directive. The model already refuses them; this second check holds for any template and for any
 * caller that builds a ClusterState by hand.
 *
 * Throws {@link RenderError} naming the path (`nodes[3].address`) of the first string that has one.
 */
export function assertPrintable(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (findControlCharacter(value) !== undefined) {
      throw new RenderError(`refusing to render ${path}: value ${quote(value)} contains a control character`);
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertPrintable(item, `${path}[${i}]`));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) assertPrintable(item, path === '' ? key : `${path}.${key}`);
  }
}

/**
 * The `cfg` filter for templates: passes numbers and booleans through, and strings only when printable.
 * Custom templates can use it on values computed inside the template (`{{ a ~ b | cfg }}`).
 */
export function cfgFilter(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new RenderError(`cfg filter: expected a string or number, got ${typeof value}`);
  assertPrintable(value, 'cfg filter input');
  return value;
}
