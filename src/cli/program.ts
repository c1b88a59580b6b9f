import { Command, CommanderError } from 'commander';
import { GaleraHaproxyError, describeError } from '../errors.js';
import { ExitCode, type CliIO } from './io.js';
import { createRenderCommand } from './render-command.js';
import { createOnceCommand } from './once-command.js';
import { createPlanCommand } from './plan-command.js';
import { createWatchCommand } from './watch-command.js';
import { createRegisterCommand } from './register-command.js';
import { createClustercheckCommand } from './clustercheck-command.js';
import { createSwitchoverCommand } from './switchover-command.js';
import { CommandFailed } from './command-failed.js';
import { USAGE_EXAMPLES } from './pipeline-flags.js';

export function buildProgram(io: CliIO): Command {
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
  for (const sub of [
    createRenderCommand(io),
    createPlanCommand(io),
    createOnceCommand(io),
    createWatchCommand(io),
    createRegisterCommand(io),
    createClustercheckCommand(io),
    createSwitchoverCommand(io),
  ]) {
    program.addCommand(sub.exitOverride().configureOutput({ writeOut: (s: string) => io.stdout.write(s), writeErr: (s: string) => io.stderr.write(s) }));
  }
  return program;
}

/** Runs the CLI and maps every way out to an exit code; only this function knows exit codes. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
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
