import { ApplyError } from '../errors.js';
import type { RuntimeServer, ServerSpec } from '../plan/types.js';

/**
 * Runtime API commands and the replies HAProxy gives when they work. The socket answers text, not
 * status codes, so each command names what success looks like; anything else is an error carrying the
 * command and the reply. Replies were read off haproxy 2.6.12 and 3.0.11 (where they differ, both are
 * listed, each exactly).
 */
export interface RuntimeCommand {
  readonly text: string;
  /** Success test on the reply, trimmed. */
  readonly ok: (reply: string) => boolean;
}

const empty = (reply: string): boolean => reply === '';
const exactly =
  (...accepted: string[]) =>
  (reply: string): boolean =>
    accepted.includes(reply);

/**
 * `add server` succeeded: "New server registered.", which 3.0 may precede with warnings about options
 * it ignores (a `cookie` in a TCP backend: "Ignoring cookie as HTTP mode is disabled."; 2.6 refuses
 * the `cookie` keyword on dynamic servers outright). Only these known warnings pass, not any text.
 */
const ADD_SERVER_WARNINGS: readonly string[] = ['Ignoring cookie as HTTP mode is disabled.'];
const isServerRegistered = (reply: string): boolean => {
  const lines = reply.split('\n');
  return lines.pop() === 'New server registered.' && lines.every((line) => ADD_SERVER_WARNINGS.includes(line));
};

const ref = (s: Pick<ServerSpec, 'backend' | 'name'>): string => `${s.backend}/${s.name}`;

/** `[v6]:port` for IPv6, `a.b.c.d:port` otherwise. */
export function formatAddress(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The reply of `show servers state <backend>` for a section HAProxy does not run (2.6 and 3.0 alike). */
export const NO_SUCH_BACKEND = "Can't find backend.";

export const commands = {
  showServersState: (backend?: string): RuntimeCommand => ({
    text: backend === undefined ? 'show servers state' : `show servers state ${backend}`,
    ok: (reply) => reply.startsWith('1\n') || reply === '1',
  }),
  /** CSV with `scur` and `bck` that `show servers state` lacks; `-1 4 -1` = servers of every proxy. */
  showStatServers: (): RuntimeCommand => ({ text: 'show stat -1 4 -1', ok: (reply) => reply.startsWith('# pxname,') }),
  showInfo: (): RuntimeCommand => ({ text: 'show info', ok: (reply) => /^Pid: \d+$/m.test(reply) }),
  /** `options`: the section's default-server tokens then the server line's own, since 2.6 dynamic servers ignore default-server. */
  addServer: (s: ServerSpec, options: readonly string[]): RuntimeCommand => ({
    text: ['add server', ref(s), formatAddress(s.address, s.port), 'weight', String(s.weight), ...(s.backup ? ['backup'] : []), ...options].join(' '),
    ok: isServerRegistered,
  }),
  delServer: (s: ServerSpec): RuntimeCommand => ({ text: `del server ${ref(s)}`, ok: exactly('Server deleted.') }),
  setAddr: (s: ServerSpec): RuntimeCommand => ({
    text: `set server ${ref(s)} addr ${s.address} port ${s.port}`,
    // "IP changed from ... port changed from ..."; when nothing changed 2.6 says "no need to change the
    // addr, no need to change the port by ...", 3.0 just "nothing changed".
    ok: (reply) => /^(IP changed from|port changed from|no need to change)/i.test(reply) || reply === 'nothing changed',
  }),
  setWeight: (s: ServerSpec): RuntimeCommand => ({ text: `set server ${ref(s)} weight ${s.weight}`, ok: empty }),
  setState: (s: ServerSpec, state: 'ready' | 'drain' | 'maint'): RuntimeCommand => ({ text: `set server ${ref(s)} state ${state}`, ok: empty }),
  setHealth: (s: ServerSpec, health: 'up' | 'down' | 'stopping'): RuntimeCommand => ({ text: `set server ${ref(s)} health ${health}`, ok: empty }),
  enableHealth: (s: ServerSpec): RuntimeCommand => ({ text: `enable health ${ref(s)}`, ok: empty }),
  disableHealth: (s: ServerSpec): RuntimeCommand => ({ text: `disable health ${ref(s)}`, ok: empty }),
  enableServer: (s: ServerSpec): RuntimeCommand => ({ text: `enable server ${ref(s)}`, ok: empty }),
  disableServer: (s: ServerSpec): RuntimeCommand => ({ text: `disable server ${ref(s)}`, ok: empty }),
  shutdownSessions: (s: ServerSpec): RuntimeCommand => ({ text: `shutdown sessions server ${ref(s)}`, ok: empty }),
} as const;

/** Sends one request; injected so the command logic is testable without a socket. */
export type SocketSend = (command: string) => Promise<string>;

/**
 * Runs several commands in ONE request (joined with `;`), so HAProxy applies them without a check or
 * a connection slipping in between, then splits the reply per command and checks each one.
 * Each command's reply in 2.6 ends with an empty line, which is how the replies are told apart.
 */
export async function runCommands(send: SocketSend, list: readonly RuntimeCommand[]): Promise<string[]> {
  if (list.length === 0) return [];
  for (const c of list) {
    if (/[;\n]/.test(c.text)) throw new ApplyError('RUNTIME_API', `runtime command contains a separator: ${JSON.stringify(c.text)}`);
  }
  const request = list.map((c) => c.text).join('; ');
  const raw = await send(request);
  const replies = splitReplies(raw, list.length);
  list.forEach((c, i) => {
    const reply = replies[i] ?? '';
    if (!c.ok(reply)) {
      throw new ApplyError('RUNTIME_API', `unexpected reply to "${c.text}": ${JSON.stringify(reply)}`, { retryable: false });
    }
  });
  return replies;
}

/**
 * Splits a multi-command reply. In 2.6 a command that answers nothing yields "\n" and one that answers
 * text yields "text\n\n", so the reply is read front to back. HAProxy runs every command of the
 * request even after one fails, so each reply is checked on its own.
 */
export function splitReplies(raw: string, count: number): string[] {
  if (count === 1) return [raw.trim()];
  const replies: string[] = [];
  let rest = raw;
  for (let i = 0; i < count; i += 1) {
    if (rest.startsWith('\n') || rest === '') {
      replies.push('');
      rest = rest.slice(1);
      continue;
    }
    const end = rest.indexOf('\n\n');
    if (end === -1) {
      replies.push(rest.trim());
      rest = '';
    } else {
      replies.push(rest.slice(0, end).trim());
      rest = rest.slice(end + 2);
    }
  }
  return replies;
}

/** Sends one command and checks its reply. */
export async function runCommand(send: SocketSend, command: RuntimeCommand): Promise<string> {
  const [reply] = await runCommands(send, [command]);
  return reply ?? '';
}

interface StatRow {
  readonly scur: number;
  readonly backup: boolean;
  /** `status`: `UP`, `DOWN`, `DRAIN`, `MAINT`, `UP 1/3`, `no check`, … */
  readonly status: string;
  /** `addr`: `ip:port` (empty on versions that lack the column). */
  readonly address: string;
  /** `weight`: the effective weight (0 for the non-writers of a single-writer listener). */
  readonly weight?: number;
}

/** `show stat` CSV → per `backend/server`: current sessions, the backup flag, the status and address. */
export function parseShowStat(csv: string): Map<string, StatRow> {
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const [px, sv, scur, bck, status, addr, weight] = [col('pxname'), col('svname'), col('scur'), col('bck'), col('status'), col('addr'), col('weight')];
  const rows = new Map<string, StatRow>();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const name = f[sv];
    if (name === undefined || name === 'FRONTEND' || name === 'BACKEND') continue;
    const w = weight === -1 || f[weight] === undefined || f[weight] === '' ? Number.NaN : Number(f[weight]);
    rows.set(`${f[px] ?? ''}/${name}`, { scur: Number(f[scur] ?? 0), backup: f[bck] === '1', status: f[status] ?? '', address: f[addr] ?? '', ...(Number.isFinite(w) ? { weight: w } : {}) });
  }
  return rows;
}

/**
 * `show servers state` (format 1) → servers. The format has no backup flag, so it comes from
 * `show stat` (pass its parsed rows); without them every server counts as active.
 */
export function parseServersState(reply: string, stats?: ReadonlyMap<string, StatRow>): RuntimeServer[] {
  const lines = reply.split('\n');
  if ((lines[0] ?? '').trim() !== '1') {
    throw new ApplyError('RUNTIME_API', `unsupported "show servers state" format: ${JSON.stringify(lines[0] ?? '')}`);
  }
  const servers: RuntimeServer[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ... srv_fqdn(17) srv_port(18)
    const [backend, name, addr, op, admin, weight, fqdn, port] = [f[1], f[3], f[4], f[5], f[6], f[7], f[17], f[18]];
    if (backend === undefined || name === undefined || addr === undefined || port === undefined) {
      throw new ApplyError('RUNTIME_API', `malformed "show servers state" line: ${JSON.stringify(line)}`);
    }
    servers.push({
      backend,
      name,
      // srv_addr, never srv_fqdn: a runtime `set server addr` keeps the old name beside the new address.
      address: addr,
      ...(fqdn !== undefined && fqdn !== '-' ? { fqdn } : {}),
      port: Number(port),
      weight: Number(weight),
      backup: stats?.get(`${backend}/${name}`)?.backup ?? false,
      operState: Number(op),
      adminState: Number(admin),
      ...(stats?.has(`${backend}/${name}`) ? { sessions: stats.get(`${backend}/${name}`)?.scur ?? 0 } : {}),
    });
  }
  return servers;
}

/** The worker PID that answered `show info` (changes after a reload). */
export function parseInfoPid(reply: string): number | null {
  const m = /^Pid: (\d+)$/m.exec(reply);
  return m?.[1] === undefined ? null : Number(m[1]);
}
