#!/usr/bin/env node
import { runCli } from './program.js';

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal: stopSignal() }).then((code) => {
  process.exitCode = code;
  // A handle left open by a library (a gRPC channel winding down) must not keep a finished command alive.
  setTimeout(() => process.exit(code), 2_000).unref();
});
