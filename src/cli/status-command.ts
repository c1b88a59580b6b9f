import { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { describeError } from '../errors.js';
import { sleep } from '../lib/sleep.js';
import { decodeServices } from '../model/decode-cluster.js';
import { writerKeyOf, type ServiceSpec } from '../model/service.js';
import type { ServerNaming } from '../model/server-name.js';
import { normalizePrefix } from '../model/prefix.js';
import type { StoredKeyValue } from '../model/types.js';
import { sendSocketCommand } from '../apply/haproxy-socket.js';
import { commands, parseShowStat } from '../apply/runtime-commands.js';
import {
  buildStatusReport,
  formatStatusTable,
  type Gathered,
  type GatheredService,
  type HaproxyServer,
  type Reading,
} from '../observe/status-report.js';
import { parseDurationIn } from '../config/parse-values.js';
import { askClustercheck, clustercheckUrl } from '../observe/clustercheck-client.js';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addInspectFlags, resolveInspectSetup, type InspectFlags, type InspectSetup } from './inspect-setup.js';

interface StatusFlags extends InspectFlags {
  readonly json?: boolean;
  readonly watch?: string;
}

/** Every source is asked with a short bound: a status that hangs on one dead node is no status. */
const ETCD_TIMEOUT_MS = 3_000;
const SOCKET_TIMEOUT_MS = 2_000;
const CLUSTERCHECK_TIMEOUT_MS = 1_000;

async function within<T>(work: Promise<T>, ms: number, what: string): Promise<Reading<T>> {
  const stop = new AbortController();
  try {
    return await Promise.race([
      work.then(
        (value): Reading<T> => ({ ok: true, value }),
        (err: unknown): Reading<T> => ({ ok: false, error: oneLine(err) }),
      ),
      sleep(ms, stop.signal).then((): Reading<T> => ({ ok: false, error: `${what} did not answer within ${ms} ms` })),
    ]);
  } finally {
    stop.abort();
  }
}

function oneLine(err: unknown): string {
  return describeError(err).split('\n')[0] ?? 'unknown error';
}

async function readHaproxy(statsSocket: string): Promise<readonly HaproxyServer[]> {
  const rows = parseShowStat(await sendSocketCommand(statsSocket, commands.showStatServers().text, { timeoutMs: SOCKET_TIMEOUT_MS }));
  return [...rows].map(([key, row]) => {
    const at = key.indexOf('/');
    return { backend: key.slice(0, at), name: key.slice(at + 1), address: row.address, status: row.status, sessions: row.scur, ...(row.weight === undefined ? {} : { weight: row.weight }) };
  });
}

/** The nodes decoded as the daemon decodes them (its writer record apart), and the record as stored. */
function decodeRead(service: ServiceSpec, serverNames: ServerNaming, read: { revision: string; kvs: readonly StoredKeyValue[] }): GatheredService['etcd'] {
  const key = writerKeyOf(service);
  const record = read.kvs.find((kv) => kv.key === key);
  const state = decodeServices([service], read.kvs, { serverNames });
  const writerRecord = record === undefined ? null : { value: record.value, epoch: String(record.modRevision) };
  return { ok: true, value: { revision: read.revision, state, writerRecord } };
}

type CheckEntry = readonly [string, GatheredService['checks'][string]];

async function gatherService(client: Etcd3, service: ServiceSpec, serverNames: ServerNaming): Promise<GatheredService> {
  const { readPrefixOnce } = await import('../source/prefix-read.js');
  const base = normalizePrefix(service.prefix);
  const read = await within(readPrefixOnce(client, base), ETCD_TIMEOUT_MS, 'etcd');
  const etcd = read.ok ? decodeRead(service, serverNames, read.value) : read;
  const nodes = etcd.ok ? etcd.value.state.nodes : [];
  const asked = await Promise.all(
    nodes.map(async (node): Promise<CheckEntry | null> => {
      const url = clustercheckUrl(service, node);
      return url === null ? null : [node.id, { url, answer: await within(askClustercheck(url, CLUSTERCHECK_TIMEOUT_MS), CLUSTERCHECK_TIMEOUT_MS + 500, 'clustercheck') }];
    }),
  );
  return {
    name: service.name,
    prefix: base,
    writerMode: service.writer,
    etcd,
    checks: Object.fromEntries(asked.filter((a): a is CheckEntry => a !== null)),
  };
}

async function gather(setup: InspectSetup, client: Etcd3): Promise<Gathered> {
  const [haproxy, services] = await Promise.all([
    within(readHaproxy(setup.statsSocket), SOCKET_TIMEOUT_MS + 500, 'the stats socket'),
    Promise.all(setup.services.map((s) => gatherService(client, s, setup.serverNames))),
  ]);
  return { at: new Date().toISOString(), statsSocket: setup.statsSocket, haproxy, services };
}

/**
 * `galera-haproxy status`: one table per service (or JSON), from etcd, this proxy's stats socket and the
 * nodes' clustercheck. Exit 0 when etcd and the stats socket answered, 4 when either did not (the table
 * shows what could be read), 2 for bad flags. With --watch it refreshes until SIGINT/SIGTERM.
 */
export function createStatusCommand(io: CliIO): Command {
  const cmd = new Command('status').description(
    "one table per service: each node's address, role (writer, reader, backup, draining), HAProxy's view on this proxy (UP, DOWN, DRAIN, MAINT and sessions), " +
      "the node's own clustercheck (state, wsrep_local_recv_queue, reason) and the writer record. Reads etcd, the local stats socket and each clustercheck (1 s); " +
      'what does not answer is shown as unreachable. Exit 0 all read, 4 etcd or the stats socket unreachable, 2 bad flags',
  );
  addInspectFlags(cmd, 'status')
    .option('--json', 'print the report as JSON (with --watch: one line per refresh)')
    .option('--watch <seconds>', 'refresh every SECONDS until SIGINT/SIGTERM');
  return cmd.action(async (flags: StatusFlags) => {
    const setup = resolveInspectSetup(flags, io);
    const everyMs = flags.watch === undefined ? null : parseDurationIn(flags.watch, '--watch', 's', { minMs: 100, maxMs: 3_600_000 });
    const { createEtcdClient } = await import('../source/etcd-writer.js');
    const client = createEtcdClient({ ...setup.etcd, dialTimeoutMs: Math.min(setup.etcd.dialTimeoutMs, ETCD_TIMEOUT_MS) });
    const stopped = new AbortController();
    void io.stopSignal.then(() => stopped.abort());
    const tty = (io.stdout as Partial<NodeJS.WriteStream>).isTTY === true;
    let partial = false;
    try {
      for (;;) {
        const report = buildStatusReport(await gather(setup, client));
        partial = report.partial;
        if (flags.json === true) io.stdout.write(`${everyMs === null ? JSON.stringify(report, null, 2) : JSON.stringify(report)}\n`);
        else io.stdout.write(`${everyMs !== null && tty ? '\x1b[H\x1b[2J' : ''}${everyMs === null ? '' : `${report.at}\n`}${formatStatusTable(report)}`);
        if (everyMs === null || stopped.signal.aborted) break;
        await sleep(everyMs, stopped.signal);
        if (stopped.signal.aborted) break;
        if (!tty && flags.json !== true) io.stdout.write('\n');
      }
    } finally {
      client.close();
    }
    if (partial) throw new CommandFailed('', ExitCode.unavailable);
  });
}
