import type { Command } from 'commander';
import { addOptionFlags, type CommandName } from '../config/option-table.js';

/** The three ways to run it, shown after the top-level and `watch` help. */
export const USAGE_EXAMPLES = `
Examples:
  # Sidecar in the HAProxy container (HAProxy started with -W -S /run/haproxy/master.sock):
  galera-haproxy watch --master-socket /run/haproxy/master.sock --etcd-endpoints http://etcd:2379 \\
    --config /etc/haproxy/haproxy.cfg --status-listen 127.0.0.1:9101

  # Standalone binary on a host, next to the distribution's HAProxy (systemd unit: haproxy/galera-haproxy.service):
  /opt/bin/galera-haproxy watch --master-socket /run/haproxy/master.sock --config /etc/haproxy/haproxy.cfg

  # Dry run: render from a JSON file of etcd keys and run haproxy -c on it; touches nothing:
  galera-haproxy render --nodes nodes.json --check

Exit codes: 0 ok, 1 failed, 2 bad flags, 3 rejected (live file untouched), 4 etcd unreachable.
`;

/** etcd connection flags, shared by every subcommand that talks to etcd (register too). */
export function addEtcdFlags(cmd: Command, command: CommandName = 'render'): Command {
  return addOptionFlags(cmd, command, 'etcd');
}

/** `--config-file` and the flags of the render → check → apply pipeline, shared by render, plan, once and watch. */
export function addPipelineFlags(cmd: Command, command: CommandName = 'render'): Command {
  return addOptionFlags(addOptionFlags(cmd, command, 'config'), command, 'pipeline');
}

/** Flags of the commands that change HAProxy (once, watch). */
export function addApplyFlags(cmd: Command, command: CommandName = 'once'): Command {
  return addOptionFlags(cmd, command, 'apply');
}

/** Every flag of `command` from the option table, in the table's groups. */
export function addCommandFlags(cmd: Command, command: CommandName): Command {
  for (const group of ['etcd', 'config', 'pipeline', 'render', 'apply', 'watch'] as const) addOptionFlags(cmd, command, group);
  return cmd.addHelpText('after', `\nEvery option can also be given in the config file (the flag's name without the dashes) or as\nGALERA_HAPROXY_<NAME> in the environment (--min-servers: GALERA_HAPROXY_MIN_SERVERS); flags win over\nthe environment, which wins over the file.\n`);
}
