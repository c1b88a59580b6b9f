import { createConnection } from 'node:net';
import { ApplyError } from '../errors.js';

export interface SocketCommandOptions {
  /** Whole exchange (connect, write, read to EOF). @default 5000 */
  timeoutMs?: number;
}

/**
 * Sends one request to an HAProxy unix socket (stats socket or master CLI) and returns the whole reply.
 * Without `prompt` mode HAProxy answers one line of commands (several may be joined with `;`) and
 * closes the connection, so EOF marks the end of the reply: no parsing of prompts is needed.
 * For the master CLI, prefix `@1 ` or `@!<pid> ` to route a command to a worker.
 */
export function sendSocketCommand(socketPath: string, command: string, options: SocketCommandOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 5000;
  if (command.includes('\n')) {
    return Promise.reject(new ApplyError('RUNTIME_API', `refusing a multi-line command for ${socketPath}: ${JSON.stringify(command)}`));
  }
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
      finish(
        new ApplyError('RUNTIME_API', `no complete reply from ${socketPath} within ${timeoutMs} ms to "${command}"`, {
          retryable: true,
        }),
      );
    }, timeoutMs);
    // The master CLI answers only once the request is closed for writing (half-close), like socat does.
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('error', (err) => {
      finish(new ApplyError('RUNTIME_API', `cannot talk to HAProxy socket ${socketPath} ("${command}")`, { cause: err, retryable: true }));
    });
  });
}
