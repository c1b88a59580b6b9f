/**
 * Runs the Galera-side subcommands as a real process (`node --import tsx test/e2e/galera-cli.ts
 * register ...`), wired the way the CLI entry point wires them, so tests can signal a real process.
 */
import { Command } from 'commander';
import { createClustercheckCommand } from '../../src/cli/clustercheck-command.js';
import type { CliIO } from '../../src/cli/io.js';
import { createRegisterCommand } from '../../src/cli/register-command.js';
import { ConfigError, describeError } from '../../src/errors.js';

const stopSignal = new Promise<string>((resolve) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(signal));
});
const io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal };
const program = new Command('galera-haproxy')
  .addCommand(createRegisterCommand(io))
  .addCommand(createClustercheckCommand(io));

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (err) {
  process.stderr.write(`galera-haproxy: ${describeError(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
