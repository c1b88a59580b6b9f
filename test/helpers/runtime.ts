import { connect } from 'node:net';
import { sendSocketCommand } from '../../src/apply/haproxy-socket.js';
import { parseShowProc, type ProcList } from '../../src/apply/master-cli-reloader.js';
import { commands, parseServersState, parseShowStat } from '../../src/apply/runtime-commands.js';
import type { RuntimeServer } from '../../src/plan/types.js';

/** The servers HAProxy runs now (of one backend, when named), as the Runtime API reports them. */
export async function runtimeServers(statsSocket: string, backend?: string): Promise<RuntimeServer[]> {
  const [state, stat] = await Promise.all([
    sendSocketCommand(statsSocket, commands.showServersState(backend).text, { timeoutMs: 2000 }),
    sendSocketCommand(statsSocket, commands.showStatServers().text, { timeoutMs: 2000 }),
  ]);
  return parseServersState(state, parseShowStat(stat));
}

/** Current sessions per `backend/server`. */
export async function sessionsPerServer(statsSocket: string): Promise<Map<string, number>> {
  const rows = parseShowStat(await sendSocketCommand(statsSocket, commands.showStatServers().text));
  return new Map([...rows].map(([key, row]) => [key, row.scur]));
}

export async function showProc(masterSocket: string): Promise<ProcList> {
  const reply = await sendSocketCommand(masterSocket, 'show proc', { timeoutMs: 2000 });
  const parsed = parseShowProc(reply);
  if (parsed === null) throw new Error(`unexpected "show proc" reply: ${reply}`);
  return parsed;
}

/** Opens a TCP connection and resolves with the first line the backend sends (its greeting). */
export function readGreeting(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no greeting from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      if (data.includes('\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.slice(0, data.indexOf('\n') + 1));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!data.includes('\n')) reject(new Error(`connection to ${host}:${port} closed without a greeting`));
    });
  });
}

/** Polls `probe` until it returns true, or throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
