import { connect } from 'node:net';
import { expect } from 'vitest';
import type { CliDaemon } from './cli.js';

/** Node's inspector answers here once SIGUSR1 opened it. */
const INSPECTOR = { host: '127.0.0.1', port: 9229 };

/** Resolves true when something accepts a TCP connection on host:port. */
export function isListening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (up: boolean): void => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Sends SIGUSR1 to a running command and checks it logged the signal, opened no inspector port and still
 * runs. Waits for the command's own line, or for Node's "Debugger listening" (the defect) to fail fast.
 */
export async function expectAliveWithInspectorClosed(daemon: CliDaemon): Promise<void> {
  expect(await isListening(INSPECTOR.host, INSPECTOR.port), 'something already listens on 127.0.0.1:9229').toBe(false);
  const seen = daemon.logs.length;
  daemon.child.kill('SIGUSR1');
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && !daemon.output().includes('Debugger listening') && !daemon.logs.slice(seen).some((e) => e.signal === 'SIGUSR1')) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // The inspector, had it started, binds within milliseconds of the signal.
  await new Promise((r) => setTimeout(r, 300));
  expect(await isListening(INSPECTOR.host, INSPECTOR.port), 'the Node.js inspector listens on 127.0.0.1:9229').toBe(false);
  const line = daemon.logs.slice(seen).find((e) => e.signal === 'SIGUSR1');
  expect(line?.msg).toBe('SIGUSR1 ignored: the Node.js inspector stays closed');
  expect(daemon.child.exitCode).toBeNull();
  expect(daemon.child.signalCode).toBeNull();
}
