import { Command, CommanderError } from 'commander';
import { GaleraHaproxyError, describeError } from '../errors.js';
import { ExitCode, type CliIO } from './io.js';
import { CommandFailed } from './command-failed.js';
import { USAGE_EXAMPLES } from './pipeline-flags.js';

type CommandFactory = (io: CliIO) => Command;

/**
 * Each subcommand's module, loaded only when that subcommand runs: a module's code and what it imports
 * stay in memory for the life of the process, and `watch` runs for months (the others' modules, their
 * libraries and their compiled code would be a few MB of a sidecar's RSS for nothing).
 * In `--help` order.
 */
const SUBCOMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  render: async () => (await import('./render-command.js')).createRenderCommand,
  plan: async () => (await import('./plan-command.js')).createPlanCommand,
  once: async () => (await import('./once-command.js')).createOnceCommand,
  watch: async () => (await import('./watch-command.js')).createWatchCommand,
  register: async () => (await import('./register-command.js')).createRegisterCommand,
  clustercheck: async () => (await import('./clustercheck-command.js')).createClustercheckCommand,
  switchover: async () => (await import('./switchover-command.js')).createSwitchoverCommand,
  status: async () => (await import('./status-command.js')).createStatusCommand,
  drain: async () => {
    const { createDrainCommand } = await import('./drain-command.js');
    return (io) => createDrainCommand(io, true);
  },
  undrain: async () => {
    const { createDrainCommand } = await import('./drain-command.js');
    return (io) => createDrainCommand(io, false);
  },
};

/** The subcommand `argv` runs, when it names one; otherwise (`--help`, `help`, a typo) every one is loaded. */
export function subcommandOf(argv: readonly string[]): string | undefined {
  const word = argv.find((arg) => !arg.startsWith('-'));
  return word !== undefined && Object.hasOwn(SUBCOMMANDS, word) ? word : undefined;
}

/** The program with the subcommand `argv` runs, or with every subcommand when it names none. */
export async function buildProgram(io: CliIO, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('galera-haproxy')
    .description('Keep HAProxy in step with the Galera nodes registered in etcd: render, haproxy -c, Runtime API first, confirmed reload.')
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText('after', USAGE_EXAMPLES)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();
  const only = subcommandOf(argv);
  const names = only === undefined ? Object.keys(SUBCOMMANDS) : [only];
  const factories = await Promise.all(names.map((name) => SUBCOMMANDS[name]!()));
  for (const create of factories) {
    program.addCommand(create(io).exitOverride().configureOutput({ writeOut: (s: string) => io.stdout.write(s), writeErr: (s: string) => io.stderr.write(s) }));
  }
  return program;
}

/** Runs the CLI and maps every way out to an exit code; only this function knows exit codes. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  try {
    const program = await buildProgram(io, argv);
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof CommandFailed) {
      if (err.message !== '') io.stderr.write(`galera-haproxy: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`galera-haproxy: ${describeError(err)}\n`);
    if (err instanceof GaleraHaproxyError) {
      if (err.code === 'CONFIG_INVALID') return ExitCode.usage;
      if (err.code === 'ETCD_UNAVAILABLE' || err.code === 'ETCD_AUTH') return ExitCode.unavailable;
      if (err.code === 'CHECK_FAILED' || err.code === 'TEMPLATE_ERROR' || err.code === 'GUARD') return ExitCode.rejected;
    }
    return ExitCode.failed;
  }
}
