/**
 * Soak: a real 3-member etcd cluster on loopback, random put/delete churn, the real source mirroring
 * through TCP proxies, and 20 rounds of faults (kill -9 the leader, stop every member for 30 s, cut the
 * watcher off and compact past it, restart the watcher). Prints a table and one JSON line.
 *
 *   npx tsx bench/soak-etcd.ts [--rounds 20] [--pause-ms 30000]
 */
import { parseArgs } from 'node:util';
import { formatTable, runRounds, startFaultWorld, summarize } from '../test/faults/etcd-rounds.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    'pause-ms': { type: 'string', default: '30000' },
  },
});
const rounds = Number(values.rounds);
const pauseMs = Number(values['pause-ms']);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(pauseMs) || pauseMs < 0) {
  console.error('usage: npx tsx bench/soak-etcd.ts [--rounds N>0] [--pause-ms MS>=0]');
  process.exit(2);
}

const world = await startFaultWorld({ prefix: '/soak/galera' });
let exitCode = 1;
try {
  const started = Date.now();
  const results = await runRounds(world, rounds, {
    pauseMs,
    convergeTimeoutMs: 60_000,
    onRound: (r) =>
      console.error(`round ${r.round} ${r.fault}: ${r.passed ? 'ok' : `FAILED (${r.error ?? ''})`} converge ${r.convergeMs ?? '-'} ms`),
  });
  const summary = summarize(results);
  console.log(formatTable(results, summary));
  console.log(JSON.stringify({ bench: 'soak-etcd', pauseMs, durationMs: Date.now() - started, ...summary, results }));
  exitCode = summary.passed === summary.rounds ? 0 : 1;
} finally {
  await world.close();
}
process.exit(exitCode);
