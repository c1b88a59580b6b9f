/**
 * Starts a source, closes it and returns: the process must then exit by itself, which proves close()
 * left no timer, socket or stream keeping the event loop alive. Run by source-etcd.test.ts.
 *   node --import tsx test/faults/close-exits.ts <endpoint> <prefix>
 */
import { pino } from 'pino';
import { createEtcdSource } from '../../src/source/etcd-source.js';
import { etcdSourceOptions } from '../../src/source/etcd-options.js';

const [endpoint, prefix] = process.argv.slice(2);
if (endpoint === undefined || prefix === undefined) {
  console.error('usage: close-exits.ts <endpoint> <prefix>');
  process.exit(2);
}
const source = createEtcdSource(
  etcdSourceOptions({ endpoints: [endpoint], prefix, heartbeatIntervalMs: 100, resyncIntervalMs: 1000 }),
  pino({ level: 'silent' }),
);
let views = 0;
await source.start({ onChange: () => (views += 1) });
await new Promise((resolve) => setTimeout(resolve, 300));
await source.close();
console.log(JSON.stringify({ views, health: source.health() }));
