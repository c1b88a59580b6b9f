import type { Command } from 'commander';

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

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** etcd connection flags, shared by every subcommand that talks to etcd. */
export function addEtcdFlags(cmd: Command): Command {
  return cmd
    .option('--etcd-endpoints <urls>', 'comma-separated etcd endpoints (default: $ETCDCTL_ENDPOINTS, else http://127.0.0.1:2379)')
    .option('--etcd-cacert <file>', 'CA bundle to verify etcd (default: $ETCDCTL_CACERT)')
    .option('--etcd-cert <file>', 'client certificate for etcd (default: $ETCDCTL_CERT)')
    .option('--etcd-key <file>', 'client key for etcd (default: $ETCDCTL_KEY)')
    .option('--etcd-user <name>', 'etcd user (default: $ETCDCTL_USER); password from $GALERA_HAPROXY_ETCD_PASSWORD, $ETCDCTL_PASSWORD or --etcd-password-file')
    .option('--etcd-password-file <file>', 'file holding the etcd password')
    .option('--prefix <prefix>', 'etcd prefix the Galera nodes register under', '/components/galera');
}

/** Flags of the render → check → apply pipeline, shared by render, once and watch. */
export function addPipelineFlags(cmd: Command): Command {
  return cmd
    .option('--template <file>', 'nunjucks template to render instead of the bundled templates/haproxy.cfg.njk')
    .option('--set <name=value>', 'set a template variable (repeatable; see templates/README.md)', collect, [])
    .option('--haproxy-bin <path>', 'haproxy binary used for `haproxy -c`', 'haproxy')
    .option('--min-servers <n>', 'never write a Galera backend with fewer servers than this', '1')
    .option('--check-timeout <duration>', 'time limit for `haproxy -c` (more than 0)', '10s')
    .option('--hosts-file <file>', 'hosts(5) file consulted before the system resolver for node host names (HAProxy is given IPs)')
    .option('--resolve-interval <duration>', 'how often node host names are resolved again (a changed address is one set server addr); 0 turns it off', '10s')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info');
}

/** Flags of the commands that change HAProxy (once, watch). */
export function addApplyFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'the haproxy.cfg to manage', '/etc/haproxy/haproxy.cfg')
    .option('--master-socket <path>', 'HAProxy master CLI socket (haproxy -W -S <path>); reloads go through it (this or --reload-cmd is required)')
    .option('--stats-socket <path>', 'admin stats socket for the Runtime API (default: the template variable stats_socket)')
    .option('--reload-cmd <argv>', 'reload command instead of the master CLI: words or a JSON array, run without a shell (this or --master-socket is required)')
    .option('--min-reload-interval <duration>', 'minimum gap between two reloads', '2s')
    .option('--drain-timeout <duration>', 'how long a removed server drains before its sessions are shut down', '30s')
    .option('--no-runtime-api', 'apply every change by a confirmed reload (HAProxy without dynamic servers)')
    .option('--max-runtime-ops <n>', 'a change touching more servers than this is one reload instead', '200');
}
