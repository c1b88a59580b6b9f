#!/usr/bin/env node
import { runCli } from './program.js';

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    // `on`, not `once`: execa's signal-exit re-raises a signal when it finds itself the last listener,
    // which a `once` listener (removed before it runs) would let happen mid-`haproxy -c`.
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
}

void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal: stopSignal() }).then((code) => {
  process.exitCode = code;
  // A handle left open by a library (a gRPC channel winding down) must not keep a finished command alive.
  setTimeout(() => process.exit(code), 500).unref();
});
