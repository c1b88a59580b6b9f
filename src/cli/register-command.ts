import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { ConfigError } from '../errors.js';
import { parseDurationIn } from '../config/daemon-options.js';
import { DEFAULT_DRAIN_GRACE_MS, runRegistration } from '../galera/register.js';
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
  drainGrace: string;
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
    .description('register a Galera node in etcd under a lease; on SIGTERM/SIGINT mark it draining, wait --drain-grace, then revoke the lease')
    .requiredOption('--id <id>', 'node id, one path segment under the prefix')
    .requiredOption('--ip <ip>', 'address clients reach the node on (IPv4, IPv6 or host name)')
    .option('--port <port>', 'MySQL port', '3306')
    .option('--host <name>', 'informational host name (seed layout)', hostname())
    .option('--ttl <duration>', 'lease TTL, whole seconds: how long a dead node stays registered (a plain number is seconds)', '10s')
    .addOption(new Option('--layout <layout>', 'key layout').choices(['seed', 'flat']).default('seed'))
    .option('--when-healthy <url>', 'register only while this URL answers 200 (e.g. the clustercheck)')
    .option('--health-interval <duration>', 'how often to poll --when-healthy (a plain number is milliseconds)', '1s')
    .option(
      '--drain-grace <duration>',
      'on stop, how long the node stays registered as draining (no new clients through HAProxy, open sessions finish) before it leaves; 0 leaves at once, a second SIGTERM cuts it short (a plain number is milliseconds)',
      `${DEFAULT_DRAIN_GRACE_MS / 1000}s`,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    );
  return addEtcdFlags(cmd.addHelpText('after', describeSignals('logged; nothing to re-read', 'mark the node draining, wait --drain-grace, revoke the lease; a second one leaves at once'))).action(async (flags: RegisterFlags) => {
      const port = parsePositiveInt('--port', flags.port, 65_535);
      const ttlMs = parseDurationIn(flags.ttl, '--ttl', 's', { minMs: 1_000, maxMs: 3_600_000 });
      // etcd leases count in whole seconds.
      if (ttlMs % 1000 !== 0) throw new ConfigError(`--ttl ${flags.ttl} must be whole seconds`);
      const ttlSeconds = ttlMs / 1000;
      const healthIntervalMs = parseDurationIn(flags.healthInterval, '--health-interval', 'ms', { minMs: 1, maxMs: 60_000 });
      const drainGraceMs = parseDurationIn(flags.drainGrace, '--drain-grace', 'ms', { minMs: 0, maxMs: 3_600_000 });
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
      const hurry = new AbortController();
      void io.stopSignal.then((signal) => {
        logger.info({ signal, drainGraceMs }, drainGraceMs > 0 ? 'stopping: draining, then revoking the lease' : 'stopping: revoking the lease');
        controller.abort();
      });
      // The first stop signal starts the drain; any later one ends the grace at once.
      let stops = 0;
      const onStop = (): void => {
        stops += 1;
        if (stops > 1) hurry.abort();
      };
      io.onSignal('SIGTERM', onStop);
      io.onSignal('SIGINT', onStop);
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
            drainGraceMs,
            client,
          },
          { logger, signal: controller.signal, hurry: hurry.signal },
        );
      } finally {
        client.close();
      }
    });
}
