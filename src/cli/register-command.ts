import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { ConfigError } from '../errors.js';
import { parseDurationIn } from '../config/daemon-options.js';
import { runRegistration } from '../galera/register.js';
import type { RegistrationLayout } from '../galera/registration-keys.js';
import { createLogger, type LogLevel } from '../observe/logger.js';
import { resolveEtcdOptions, type EtcdFlags } from '../source/etcd-options.js';
import type { CliIO } from './io.js';
import { addEtcdFlags } from './pipeline-flags.js';
import { describeSignals, handleControlSignals } from './control-signals.js';

interface RegisterFlags extends EtcdFlags {
  id: string;
  ip: string;
  port: string;
  host?: string;
  ttl: string;
  layout: RegistrationLayout;
  whenHealthy?: string;
  healthInterval: string;
  logLevel: LogLevel;
}

function parsePositiveInt(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new ConfigError(`${flag} must be an integer 1-${String(max)}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** `galera-haproxy register`: keep this node in etcd while it runs (and, optionally, while healthy). */
export function createRegisterCommand(io: CliIO): Command {
  const cmd = new Command('register')
    .description('register a Galera node in etcd under a lease; revoke it on SIGTERM/SIGINT')
    .requiredOption('--id <id>', 'node id, one path segment under the prefix')
    .requiredOption('--ip <ip>', 'address clients reach the node on (IPv4, IPv6 or host name)')
    .option('--port <port>', 'MySQL port', '3306')
    .option('--host <name>', 'informational host name (seed layout)', hostname())
    .option('--ttl <duration>', 'lease TTL, whole seconds: how long a dead node stays registered (a plain number is seconds)', '10s')
    .addOption(new Option('--layout <layout>', 'key layout').choices(['seed', 'flat']).default('seed'))
    .option('--when-healthy <url>', 'register only while this URL answers 200 (e.g. the clustercheck)')
    .option('--health-interval <duration>', 'how often to poll --when-healthy (a plain number is milliseconds)', '1s')
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    );
  return addEtcdFlags(cmd.addHelpText('after', describeSignals('logged; nothing to re-read'))).action(async (flags: RegisterFlags) => {
      const port = parsePositiveInt('--port', flags.port, 65_535);
      const ttlMs = parseDurationIn(flags.ttl, '--ttl', 's', { minMs: 1_000, maxMs: 3_600_000 });
      // etcd leases count in whole seconds.
      if (ttlMs % 1000 !== 0) throw new ConfigError(`--ttl ${flags.ttl} must be whole seconds`);
      const ttlSeconds = ttlMs / 1000;
      const healthIntervalMs = parseDurationIn(flags.healthInterval, '--health-interval', 'ms', { minMs: 1, maxMs: 60_000 });
      if (flags.whenHealthy !== undefined) {
        try {
          new URL(flags.whenHealthy);
        } catch (err) {
          throw new ConfigError(`invalid --when-healthy URL ${JSON.stringify(flags.whenHealthy)}`, { cause: err });
        }
      }
      const etcd = resolveEtcdOptions(flags, io.env, (path) => readFileSync(path));
      const logger = createLogger({ level: flags.logLevel, stream: io.stderr }).child({ command: 'register' });
      handleControlSignals(io, logger, { status: () => ({ id: flags.id, prefix: etcd.prefix }) });
      const controller = new AbortController();
      void io.stopSignal.then((signal) => {
        logger.info({ signal }, 'stopping: revoking the lease');
        controller.abort();
      });
      // The etcd client (gRPC, protobuf) is loaded by the commands that use it, not by every command.
      const { createEtcdClient } = await import('../source/etcd-writer.js');
      const client = createEtcdClient(etcd);
      try {
        await runRegistration(
          {
            id: flags.id,
            ip: flags.ip,
            port,
            host: flags.host,
            ttlSeconds,
            layout: flags.layout,
            prefix: etcd.prefix,
            whenHealthyUrl: flags.whenHealthy,
            healthIntervalMs,
            client,
          },
          { logger, signal: controller.signal },
        );
      } finally {
        client.close();
      }
    });
}
