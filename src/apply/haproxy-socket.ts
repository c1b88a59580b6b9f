import { createConnection } from 'node:net';
import { ApplyError } from '../errors.js';

export interface SocketCommandOptions {
  /** Whole exchange (connect, write, read to EOF). @default 5000 */
  timeoutMs?: number;
}

/**
 * Writes `payload`, reads to EOF. `halfClose` ends our side after the write (the master CLI answers only
 * then, like socat does); otherwise HAProxy is expected to close by itself (`quit`).
 */
function exchange(socketPath: string, payload: string, what: string, timeoutMs: number, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = createConnection({ path: socketPath });
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => {
      finish(new ApplyError('RUNTIME_API', `no complete reply from ${socketPath} within ${timeoutMs} ms to ${what}`, { retryable: true }));
    }, timeoutMs);
    socket.on('connect', () => (halfClose ? socket.end(payload) : socket.write(payload)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('error', (err) => {
      finish(new ApplyError('RUNTIME_API', `cannot talk to HAProxy socket ${socketPath} (${what})`, { cause: err, retryable: true }));
    });
  });
}

const refuseMultiLine = (socketPath: string, text: string): Promise<never> =>
  Promise.reject(new ApplyError('RUNTIME_API', `refusing a multi-line command for ${socketPath}: ${JSON.stringify(text)}`));

/**
 * Sends one request to an HAProxy unix socket (stats socket or master CLI) and returns the whole reply.
 * Without `prompt` mode HAProxy answers one line of commands (several may be joined with `;`) and
 * closes the connection, so EOF marks the end of the reply: no parsing of prompts is needed.
 * For the master CLI, prefix `@1 ` or `@!<pid> ` to route a command to a worker.
 */
export function sendSocketCommand(socketPath: string, command: string, options: SocketCommandOptions = {}): Promise<string> {
  if (command.includes('\n')) return refuseMultiLine(socketPath, command);
  return exchange(socketPath, `${command}\n`, `"${command}"`, options.timeoutMs ?? 5000, true);
}

/**
 * Sends many command lines on ONE connection of the stats socket in interactive mode (`prompt`) and
 * returns the whole reply stream. Without `prompt`, 3.0 closes after the first line, and 2.6 as soon as
 * its request buffer runs dry, which a large write can outrun; in interactive mode both read line after
 * line until `quit`. Each command (each `;`-separated part of a line too) is answered by its output
 * followed by the prompt `\n> `, which `splitPromptReplies` uses to tell the replies apart. The
 * connection is not half-closed: 3.0 ends the session on a client shutdown with commands still unread.
 */
export function sendSocketBatch(socketPath: string, lines: readonly string[], options: SocketCommandOptions = {}): Promise<string> {
  const bad = lines.find((l) => l.includes('\n'));
  if (bad !== undefined) return refuseMultiLine(socketPath, bad);
  const payload = `prompt\n${lines.map((l) => `${l}\n`).join('')}quit\n`;
  return exchange(socketPath, payload, `a batch of ${lines.length} line(s)`, options.timeoutMs ?? 5000, false);
}
