/**
 * The issue-5 scenarios on a real 3-node MariaDB Galera cluster (127.0.0.11-13), with figures:
 * clients open new connections through HAProxy (INSERT + SELECT each) while one mariadbd is killed,
 * restarted with a forced SST, one `register` is stopped, and single-writer mode loses its writer.
 * Prints a table per run and one JSON line. Needs `npm run build` (the watcher runs from dist/).
 * Usage: npx tsx bench/e2e-galera.ts [--skip single]
 */
import { startGaleraE2e } from '../test/e2e/galera-harness.js';
import {
  CLIENT_RATE,
  formatTable,
  scenarioDeregister,
  scenarioKill,
  scenarioRejoin,
  scenarioSingleWriter,
  waitAllUp,
  type ScenarioResult,
} from '../test/e2e/galera-scenarios.js';

const skip = new Set(process.argv.includes('--skip') ? (process.argv[process.argv.indexOf('--skip') + 1] ?? '').split(',') : []);

async function main(): Promise<void> {
  const started = performance.now();
  const env = await startGaleraE2e();
  const formedSeconds = (performance.now() - started) / 1000;
  const results: ScenarioResult[] = [];
  try {
    const proxy = await env.startProxy();
    await waitAllUp(env, proxy);
    results.push(await scenarioKill(env, proxy, 2));
    results.push(await scenarioRejoin(env, proxy, 2));
    results.push(await scenarioDeregister(env, proxy, 0));
    await proxy.stop();
    if (!skip.has('single')) {
      const single = await env.startProxy({ writer: 'single' });
      await waitAllUp(env, single);
      results.push(await scenarioSingleWriter(env, single));
    }
  } finally {
    await env.stop();
  }
  console.log(`\ncluster + etcd + clustercheck + register ready in ${formedSeconds.toFixed(1)} s; client rate ${String(CLIENT_RATE)} new connections/s\n`);
  console.log(formatTable(results));
  for (const r of results) {
    if (r.firstFailures.length > 0) console.log(`${r.scenario} first failures:\n  ${r.firstFailures.join('\n  ')}`);
  }
  console.log(JSON.stringify({ bench: 'e2e-galera', rate: CLIENT_RATE, formedSeconds, results }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
