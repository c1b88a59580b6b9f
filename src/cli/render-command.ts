import { Command } from 'commander';
import { CommandFailed } from './command-failed.js';
import { ExitCode, type CliIO } from './io.js';
import { addCommandFlags } from './pipeline-flags.js';
import { composePipeline, type CommandFlags } from './compose-pipeline.js';
import { readNodes, runOnePass } from './one-pass.js';

export { describeIgnoredKeys, parseNodesFile } from './one-pass.js';

interface RenderFlags extends CommandFlags {
  nodes?: string;
  check?: boolean;
}

export function createRenderCommand(io: CliIO): Command {
  const cmd = new Command('render').description(
    'Dry run: render haproxy.cfg from etcd (or --nodes FILE) and print it to stdout; touches nothing. --check also runs haproxy -c on it.',
  );
  addCommandFlags(cmd, 'render');
  return cmd.action(async (flags: RenderFlags) => {
    const pipeline = await composePipeline(flags, io, { apply: false });
    const input = await readNodes(pipeline, flags.nodes);
    const result = await runOnePass(pipeline, input, { kind: 'render', check: flags.check === true });
    if (result.outcome === 'guarded') {
      const why = input.ignored === null ? '' : `: ${input.ignored}`;
      throw new CommandFailed(`${(result.held?.map((h) => h.line) ?? [result.reason ?? 'guard held']).join('; ')}${why}`, ExitCode.rejected);
    }
    if (result.outcome === 'failed' || result.config === null) {
      // The pass says "render: template …"; the command's own line is the template error itself.
      throw new CommandFailed((result.reason ?? 'render failed').replace(/^render: /, ''), ExitCode.rejected);
    }
    io.stdout.write(result.config);
  });
}
