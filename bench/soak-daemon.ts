/**
 * Soak: the real `watch` daemon over a 3-member etcd cluster on loopback (through TCP proxies), feeding
 * a real HAProxy, with random put/delete churn and 20 rounds of faults: kill -9 the etcd leader, stop
 * every member (HAProxy must keep serving), cut the daemon off and compact past it, restart the daemon
 * (SIGTERM, and kill -9), restart HAProxy. After each round HAProxy's serving servers and the file on
 * disk must equal etcd's valid nodes. Prints a markdown table and one JSON line.
 *
 *   npm run build && npx tsx bench/soak-daemon.ts [--rounds 20] [--pause-ms 30000] [--repair-interval 5s]
 *     [--log-file FILE]   (every daemon process's output, written at the end)
 */
import { parseArgs } from 'node:util';
import { formatDaemonTable, runDaemonRounds, startDaemonWorld, summarizeDaemon } from '../test/faults/daemon-harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    'pause-ms': { type: 'string', default: '30000' },
    'repair-interval': { type: 'string', default: '5s' },
    'log-file': { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const pauseMs = Number(values['pause-ms']);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(pauseMs) || pauseMs < 0) {
  console.error('usage: npx tsx bench/soak-daemon.ts [--rounds N>0] [--pause-ms MS>=0] [--repair-interval DURATION]');
  process.exit(2);
}

const world = await startDaemonWorld({ prefix: '/soak/daemon', repairInterval: values['repair-interval'], ...(values['log-file'] === undefined ? {} : { logFile: values['log-file'] }) });
let exitCode = 1;
try {
  const started = Date.now();
  const results = await runDaemonRounds(world, rounds, {
    pauseMs,
    convergeTimeoutMs: 60_000,
    onRound: (r) =>
      console.error(`round ${r.round} ${r.fault}: ${r.passed ? 'ok' : `FAILED (${r.error ?? ''})`} heal→converged ${r.healToConvergedMs ?? '-'} ms`),
  });
  const summary = summarizeDaemon(results);
  const report = world.report();
  console.log(formatDaemonTable(results, summary, report));
  const daemonOk = report.unexpectedExits.length === 0 && report.fatalLines.length === 0 && world.monitor.zeroSamples === 0;
  console.log(
    JSON.stringify({
      bench: 'soak-daemon',
      pauseMs,
      durationMs: Date.now() - started,
      ...summary,
      servingSamples: world.monitor.samples,
      zeroServingSamples: world.monitor.zeroSamples,
      daemon: { ...report, fatalLines: report.fatalLines.length },
      results,
    }, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)),
  );
  exitCode = summary.passed === summary.rounds && daemonOk ? 0 : 1;
} finally {
  await world.close();
}
process.exit(exitCode);
