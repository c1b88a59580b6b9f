import { Command, Option } from 'commander';
import { ConfigError } from '../errors.js';
import { parseDurationIn } from '../config/daemon-options.js';
import type { MysqlTarget } from '../galera/mysql-status.js';
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
  logLevel: LogLevel;
}

const DEFAULT_SOCKET = '/run/mysqld/mysqld.sock';

function parseMs(flag: string, text: string, min: number, max: number): number {
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
      const password = await resolveMysqlPassword(io.env, flags.mysqlPasswordFile);
      const mysqlTarget: MysqlTarget =
        flags.mysqlHost !== undefined
          ? {
              host: flags.mysqlHost,
              port: parseMs('--mysql-port', flags.mysqlPort, 1, 65_535),
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
          policy: { availableWhenDonor: flags.availableWhenDonor, availableWhenReadonly: flags.availableWhenReadonly },
          queryTimeoutMs: parseDurationIn(flags.queryTimeout, '--query-timeout', 'ms', { minMs: 50, maxMs: 60_000 }),
          cacheMs: parseDurationIn(flags.cacheMs, '--cache-ms', 'ms', { minMs: 0, maxMs: 10_000 }),
        },
        { logger },
      );
      const signal = await io.stopSignal;
      logger.info({ signal }, 'stopping');
      await running.close();
    });
}
