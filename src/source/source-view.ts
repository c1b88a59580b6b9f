import type { KeyValue } from '../model/types.js';
import type { KeyMirror } from './key-mirror.js';
import type { SourceView } from './types.js';

/**
 * A view that copies the mirror only when read. A burst of 10,000 events then costs one sorted copy
 * (the daemon debounces and reads the last view), not 10,000. Revision and keys are captured together
 * on first read, so a view read late shows a newer, still consistent, state.
 */
export function lazyView(mirror: KeyMirror, cause: SourceView['cause']): SourceView {
  let captured: { revision: string; kvs: readonly KeyValue[] } | null = null;
  const capture = (): { revision: string; kvs: readonly KeyValue[] } =>
    (captured ??= { revision: mirror.revision.toString(), kvs: mirror.kvs() });
  return {
    cause,
    get revision() {
      return capture().revision;
    },
    get kvs() {
      return capture().kvs;
    },
  };
}
