import { isAbsolute, join } from 'node:path';
import type { ParsedConfig, ParsedServer } from '../plan/parse-servers.js';
import { isIpLiteral } from '../model/validate-address.js';
import { AdminState } from '../plan/admin-state.js';

/** `srv_admin_state` with the forced drain the file asks for, so the new worker starts it drained (or not). */
function adminWithDrain(admin: string | undefined, draining: boolean): string {
  const bits = Number(admin ?? 0);
  if (!Number.isInteger(bits)) return admin ?? '0';
  return String(draining ? bits | AdminState.FDRAIN : bits & ~AdminState.FDRAIN);
}

/**
 * Where HAProxy will read the server states from on reload: `server-state-file` of the global section,
 * relative to `server-state-base` when that is set. Null when the config keeps no state file.
 */
export function stateFilePath(config: ParsedConfig): string | null {
  const file = config.serverStateFile;
  if (file === null) return null;
  if (isAbsolute(file) || config.serverStateBase === null) return file;
  return join(config.serverStateBase, file);
}

function checkPortOf(server: ParsedServer, defaults: readonly string[]): number {
  const tokens = [...defaults, ...server.options];
  const at = tokens.lastIndexOf('port');
  const value = at === -1 ? undefined : tokens[at + 1];
  return value === undefined ? server.port : Number(value);
}

/**
 * The state file for the next config, built from `show servers state` of the running worker: servers
 * that keep their address keep their health, with the weight the file now says; servers that are new
 * or moved get a line that says DOWN with health 0, so the new worker waits for `rise` passing checks
 * before sending them a connection (2.6 would otherwise start them UP). Removed servers are left out.
 * A server the file marks draining carries FDRAIN, and one it does not is written without it, so a reload
 * lands on the admin state the file says even when the runtime had not caught up yet.
 */
export function buildServerState(runtimeReply: string, next: ParsedConfig): string {
  const lines = runtimeReply.split('\n');
  const header = lines[1]?.startsWith('#') === true ? lines[1] : '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';
  const live = new Map<string, string[]>();
  const backendIds = new Map<string, string>();
  for (const line of lines.slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 19 || line.startsWith('#')) continue;
    live.set(`${f[1]}/${f[3]}`, f);
    backendIds.set(f[1] ?? '', f[0] ?? '');
  }
  const out = ['1', header];
  for (const server of next.servers) {
    const current = live.get(`${server.backend}/${server.name}`);
    const weight = String(server.weight);
    // A host name compares with the name HAProxy resolves (srv_fqdn), an IP with the address it uses.
    const named = !isIpLiteral(server.address);
    if (current !== undefined && current[named ? 17 : 4] === server.address && current[18] === String(server.port)) {
      const kept = [...current];
      kept[6] = adminWithDrain(kept[6], server.draining === true);
      kept[7] = weight;
      kept[8] = weight;
      // The file names servers by IP: a name left over from a host-name registration is not carried on.
      if (!named) kept[17] = '-';
      out.push(kept.join(' '));
      continue;
    }
    const beId = backendIds.get(server.backend);
    // A backend the running worker does not have yet has no id to match on: its servers start as 2.6 decides.
    if (beId === undefined) continue;
    const checkPort = checkPortOf(server, next.defaultServer.get(server.backend) ?? []);
    out.push(
      [beId, server.backend, '0', server.name, server.address, '0', adminWithDrain('0', server.draining === true), weight, weight, '0', '1', '0', '0', '6', '0', '0', '0', '-', String(server.port), '-', '0', String(checkPort), '-', '-', '0'].join(' '),
    );
  }
  return `${out.join('\n')}\n`;
}
