import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { CheckError } from '../errors.js';
import { DEFAULT_MODE, modeOf, renameDurably, unlinkQuietly, writeTemp } from '../render/atomic-write.js';
import { formatDiagnostic, parseDiagnostics, type Diagnostic } from './parse-diagnostics.js';

export type { Diagnostic, DiagnosticLevel } from './parse-diagnostics.js';
export { describeDiagnostic, formatDiagnostic, parseDiagnostics } from './parse-diagnostics.js';

export interface CheckOptions {
  /** The `haproxy` executable (a name on PATH or a path). */
  readonly haproxyBin: string;
  readonly configText: string;
  /** The live file the staged copy will replace; the staged file is created in its directory. */
  readonly targetPath: string;
  /** @default 30000 — 10,000 servers check in well under a second; a hang must not block the daemon. */
  readonly timeoutMs?: number;
}

export interface CheckResult {
  /** True when `haproxy -c` exited 0; warnings alone do not fail a check. */
  readonly ok: boolean;
  /** The checked file, ready for {@link commitStaged}; already removed when `ok` is false. */
  readonly stagedPath: string;
  readonly diagnostics: readonly Diagnostic[];
  readonly durationMs: number;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 30_000;

/**
 * Stages `configText` beside the target and runs `haproxy -c -f <staged>` on it: the live file is never
 * the one checked, so a rejected config cannot reach HAProxy. Not `-q`: in 2.6 it hides the alerts too.
 * A rejected config is a value (`ok: false` with HAProxy's alerts), not an exception; a check that
 * cannot run at all (no binary, timeout, cannot write the staged file) throws {@link CheckError}.
 */
export async function checkConfig(options: CheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const mode = (await modeOf(options.targetPath)) ?? DEFAULT_MODE;
  let stagedPath: string;
  try {
    stagedPath = await writeTemp(options.targetPath, Buffer.from(options.configText, 'utf8'), mode, 'staged');
  } catch (err) {
    throw new CheckError('CHECK_FAILED', `cannot stage the config beside ${options.targetPath}`, { cause: err });
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const result = await execa(options.haproxyBin, ['-c', '-f', stagedPath], {
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
  });
  const durationMs = performance.now() - started;

  if (result.failed && result.exitCode === undefined) {
    await unlinkQuietly(stagedPath);
    if (result.code === 'ENOENT') {
      throw new CheckError(
        'CHECK_FAILED',
        `haproxy binary ${JSON.stringify(options.haproxyBin)} not found: install it (apt-get install haproxy) or pass --haproxy-bin`,
        { cause: result },
      );
    }
    const why = result.timedOut ? `timed out after ${timeoutMs} ms` : result.shortMessage;
    throw new CheckError('CHECK_FAILED', `haproxy -c could not run: ${why}`, { cause: result, retryable: result.timedOut });
  }

  const output = [result.stderr, result.stdout].filter((s) => typeof s === 'string' && s.length > 0).join('\n');
  const diagnostics = parseDiagnostics(output, options.configText, stagedPath);
  const ok = result.exitCode === 0;
  if (!ok) await unlinkQuietly(stagedPath);
  return { ok, stagedPath, diagnostics, durationMs };
}

/** Makes a checked file live: fsync, atomic rename over the target, fsync of the directory. */
export async function commitStaged(stagedPath: string, targetPath: string): Promise<void> {
  try {
    await renameDurably(stagedPath, targetPath);
  } catch (err) {
    await unlinkQuietly(stagedPath);
    throw new CheckError('WRITE_FAILED', `cannot install ${stagedPath} as ${targetPath}`, { cause: err });
  }
}

/** Removes a staged file that will not be committed (dry run, guard held); missing is fine. */
export async function discardStaged(stagedPath: string): Promise<void> {
  await unlinkQuietly(stagedPath);
}

/** The alerts of a failed check, one line each, for an error message or a log field. */
export function summarizeFailure(result: CheckResult): string {
  const alerts = result.diagnostics.filter((d) => d.level === 'alert' && !/Fatal errors found|Error\(s\) found/.test(d.message));
  const shown = alerts.length > 0 ? alerts : result.diagnostics.filter((d) => d.level === 'alert');
  return shown.map(formatDiagnostic).join('; ') || 'haproxy -c failed without an alert';
}
