#!/usr/bin/env -S node --max-semi-space-size=1
// The first line is the daemon's V8 setting (README "Memory"): young-generation semi-spaces of 1 MB
// instead of 16 MB, about 12 MB less RSS idle and 25 MB less after a burst, at no measured latency cost.
// haproxy/entrypoint.sh and haproxy/galera-haproxy.service give the standalone binary the same through
// NODE_OPTIONS (Node 20's single executable has no execArgv of its own); a unit test keeps them equal.
import type { CliIO } from './io.js';

// Node.js opens its inspector on 127.0.0.1:9229 when it receives SIGUSR1 and no listener exists: a
// debugger port in a production sidecar. A listener disables that; it is installed before anything else
// loads, kept for the life of the process (removing the last one would make SIGUSR1 fatal), and the
// long-running commands add one that logs.
process.on('SIGUSR1', () => undefined);

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    // `on`, not `once`: execa's signal-exit re-raises a signal when it finds itself the last listener,
    // which a `once` listener (removed before it runs) would let happen mid-`haproxy -c`.
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
}

const io: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stopSignal: stopSignal(),
  onSignal: (signal, listener) => void process.on(signal, listener),
};
// Loaded after the listeners (not a top-level await: the single-file build is CommonJS).
void import('./program.js')
  .then(({ runCli }) => runCli(process.argv.slice(2), io))
  .then((code) => {
    process.exitCode = code;
    // A handle left open by a library (a gRPC channel winding down) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 500).unref();
  });
