import { readFile } from 'node:fs/promises';
import { checkConfig, commitStaged, summarizeFailure, type CheckResult } from '../check/haproxy-check.js';
import { writeFileAtomic } from '../render/atomic-write.js';
import type { Diagnostic } from '../check/haproxy-check.js';
import type { Logger } from '../observe/logger.js';

export interface StagedCheck {
  readonly ok: boolean;
  readonly stagedPath: string;
  readonly diagnostics: CheckResult['diagnostics'];
  /** The first alert, or the exit status when haproxy printed none: one line for the log. */
  readonly summary: string;
}

/** The haproxy.cfg the daemon manages: read it, prove a candidate on a staged copy, swap it in. */
export interface LiveConfig {
  readonly path: string;
  read(): Promise<string | null>;
  /** True when two configs differ at most in the generated header (the etcd revision comment). */
  equivalent(a: string, b: string): boolean;
  check(text: string): Promise<StagedCheck>;
  commit(staged: StagedCheck): Promise<void>;
  /** Puts back the config HAProxy still runs after an apply failed, so file and HAProxy agree. */
  restore(text: string): Promise<void>;
}

/** HAProxy's own levels mapped to ours: its notices (version, path) are not news to an operator. */
export function logDiagnostic(logger: Logger, d: Diagnostic): void {
  const line = { check: d };
  const msg = `haproxy -c: ${d.message}`;
  if (d.level === 'alert') logger.error(line, msg);
  else if (d.level === 'warning') logger.warn(line, msg);
  else logger.debug(line, msg);
}

/** Header comments that carry the revision change on every etcd write; they are not a config change. */
const REVISION_COMMENT = /^#.*\brevision\b.*$/gm;

export function stripRevisionComments(config: string): string {
  return config.replace(REVISION_COMMENT, '');
}

export function createLiveConfig(options: { path: string; haproxyBin: string; checkTimeoutMs: number }): LiveConfig {
  return {
    path: options.path,
    async read() {
      try {
        return await readFile(options.path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    equivalent(a, b) {
      return a === b || stripRevisionComments(a) === stripRevisionComments(b);
    },
    async check(text) {
      const result = await checkConfig({
        haproxyBin: options.haproxyBin,
        configText: text,
        targetPath: options.path,
        timeoutMs: options.checkTimeoutMs,
      });
      const summary = result.ok ? '' : summarizeFailure(result);
      return { ok: result.ok, stagedPath: result.stagedPath, diagnostics: result.diagnostics, summary };
    },
    async commit(staged) {
      await commitStaged(staged.stagedPath, options.path);
    },
    async restore(text) {
      await writeFileAtomic(options.path, text);
    },
  };
}
