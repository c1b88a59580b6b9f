import { Command, Option } from 'commander';
import { ConfigError } from '../errors.js';
import { parseDurationIn } from '../config/daemon-options.js';
import type { MysqlTarget } from '../galera/mysql-status.js';
import type { HealthPolicy } from '../galera/node-health.js';
import { resolveMysqlPassword } from '../galera/mysql-password.js';
import { createLogger, type LogLevel } from '../observe/logger.js';
import type { CliIO } from './io.js';
import { describeSignals, handleControlSignals } from './control-signals.js';

interface ClustercheckFlags {
  listen: string;
  mysqlSocket?: string;
  mysqlHost?: string;
  mysqlPort: string;
  mysqlUser: string;
  mysqlPasswordFile?: string;
  availableWhenDonor: boolean;
  availableWhenReadonly: boolean;
  queryTimeout: string;
  cacheMs: string;
  /** false for --no-maintenance-file. */
  maintenanceFile: string | false;
  maxRecvQueue?: string;
  rise: string;
  logLevel: LogLevel;
}

const DEFAULT_SOCKET = '/run/mysqld/mysqld.sock';
// Percona's clustercheck reads the same file, so operators' habits and scripts keep working.
const DEFAULT_MAINTENANCE_FILE = '/var/tmp/clustercheck.disabled';

function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`${flag} must be an integer ${String(min)}-${String(max)}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** `galera-haproxy clustercheck`: HTTP 200/503 for HAProxy's httpchk, from the node's wsrep status. */
export function createClustercheckCommand(io: CliIO): Command {
  return new Command('clustercheck')
    .description('answer HTTP 200 while this Galera node is Synced and accepts queries, 503 otherwise')
    .option('--listen <addr>', 'host:port to serve on', '0.0.0.0:9200')
    .option('--mysql-socket <path>', `unix socket of mysqld (default ${DEFAULT_SOCKET} unless --mysql-host)`)
    .option('--mysql-host <host>', 'TCP host of mysqld')
    .option('--mysql-port <port>', 'TCP port of mysqld', '3306')
    .option('--mysql-user <user>', 'MySQL user (needs no privileges beyond USAGE)', 'clustercheckuser')
    .option('--mysql-password-file <path>', 'file holding the password (else env CLUSTERCHECK_PASSWORD or MYSQL_PWD)')
    .option('--available-when-donor', 'answer 200 while the node is Donor/Desynced', false)
    .option('--available-when-readonly', 'answer 200 while read_only=ON', false)
    .option('--query-timeout <duration>', 'bound on one status read, connect included (a plain number is milliseconds)', '1s')
    .option('--cache-ms <duration>', 'reuse a result this long, so a burst of checks costs one query (a plain number is milliseconds; 0 turns it off)', '300ms')
    .option('--maintenance-file <path>', 'answer 503 (maintenance) while this file exists', DEFAULT_MAINTENANCE_FILE)
    .option('--no-maintenance-file', 'no maintenance file')
    .option('--max-recv-queue <n>', 'answer 503 (recv_queue) once wsrep_local_recv_queue is above n, until it stays below n/2 for --rise reads (default: off)')
    .option('--rise <n>', 'consecutive reads below --max-recv-queue/2 before a lagging node answers 200 again', '3')
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .addHelpText('after', describeSignals('logged; nothing to re-read'))
    .action(async (flags: ClustercheckFlags) => {
      if (flags.mysqlSocket !== undefined && flags.mysqlHost !== undefined) {
        throw new ConfigError('--mysql-socket and --mysql-host are mutually exclusive');
      }
      // Loaded here so the other subcommands (the watch daemon above all) never load the MySQL driver.
      const { parseListen, startClustercheck } = await import('../galera/clustercheck.js');
      const listen = parseListen(flags.listen);
      const policy: HealthPolicy = {
        availableWhenDonor: flags.availableWhenDonor,
        availableWhenReadonly: flags.availableWhenReadonly,
        ...(flags.maxRecvQueue === undefined
          ? {}
          : { maxRecvQueue: parseInteger('--max-recv-queue', flags.maxRecvQueue, 1, 1_000_000_000) }),
        rise: parseInteger('--rise', flags.rise, 1, 1_000),
      };
      const password = await resolveMysqlPassword(io.env, flags.mysqlPasswordFile);
      const mysqlTarget: MysqlTarget =
        flags.mysqlHost !== undefined
          ? {
              host: flags.mysqlHost,
              port: parseInteger('--mysql-port', flags.mysqlPort, 1, 65_535),
              user: flags.mysqlUser,
              password,
            }
          : { socketPath: flags.mysqlSocket ?? DEFAULT_SOCKET, user: flags.mysqlUser, password };
      const logger = createLogger({ level: flags.logLevel, stream: io.stderr }).child({ command: 'clustercheck' });
      handleControlSignals(io, logger, { status: () => ({ listen: flags.listen }) });
      const running = await startClustercheck(
        {
          listenHost: listen.host,
          listenPort: listen.port,
          mysql: mysqlTarget,
          policy,
          queryTimeoutMs: parseDurationIn(flags.queryTimeout, '--query-timeout', 'ms', { minMs: 50, maxMs: 60_000 }),
          cacheMs: parseDurationIn(flags.cacheMs, '--cache-ms', 'ms', { minMs: 0, maxMs: 10_000 }),
          ...(flags.maintenanceFile === false ? {} : { maintenanceFile: flags.maintenanceFile }),
        },
        { logger },
      );
      const signal = await io.stopSignal;
      logger.info({ signal }, 'stopping');
      await running.close();
    });
}
