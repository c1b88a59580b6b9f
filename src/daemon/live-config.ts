import { readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkConfig, commitStaged, describeDiagnostic, summarizeFailure, type CheckResult } from '../check/haproxy-check.js';
import { fsyncDirectory, writeFileAtomic } from '../render/atomic-write.js';
import type { Diagnostic } from '../check/haproxy-check.js';
import type { Logger } from '../observe/logger.js';
import type { CostRecorder } from '../plan/apply-cost.js';

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
  /**
   * Puts back the config HAProxy still runs after an apply failed, so file and HAProxy agree; null when
   * there was no file before the write: the new one is removed, and the path is left as it was found.
   */
  restore(text: string | null): Promise<void>;
  /**
   * Notes, before a commit, that HAProxy still runs `running` (null: unknown) and not the file about to
   * replace it. The note outlives the process, so a daemon killed between the rename and the confirmed
   * apply finds on restart that the file on disk is not what HAProxy runs.
   */
  markUnconfirmed(running: string | null): Promise<void>;
  /** The note left by `markUnconfirmed`, or null when HAProxy was confirmed to run the file. */
  unconfirmed(): Promise<{ readonly running: string | null } | null>;
  /** HAProxy runs the file (or the file was put back): drops the note. */
  confirm(): Promise<void>;
}

/** HAProxy's own levels mapped to ours: its notices (version, path) are not news to an operator. */
export function logDiagnostic(logger: Logger, d: Diagnostic): void {
  const line = { check: d };
  const msg = `haproxy -c: ${describeDiagnostic(d)}`;
  if (d.level === 'alert') logger.error(line, msg);
  else if (d.level === 'warning') logger.warn(line, msg);
  else logger.debug(line, msg);
}

/** Header comments that carry the revision change on every etcd write; they are not a config change. */
const REVISION_COMMENT = /^#.*\brevision\b.*$/gm;

export function stripRevisionComments(config: string): string {
  return config.replace(REVISION_COMMENT, '');
}

/** Beside the config, hidden, and not ending in `.cfg`, so `haproxy -f <dir>` never loads it. */
export function unconfirmedPath(configPath: string): string {
  return join(dirname(configPath), `.${basename(configPath)}.unconfirmed`);
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function parseNote(text: string): { running: string | null } {
  try {
    const note = JSON.parse(text) as { running?: unknown };
    return { running: typeof note.running === 'string' ? note.running : null };
  } catch {
    // A torn or foreign note still says "not confirmed"; what HAProxy runs is then unknown.
    return { running: null };
  }
}

/** `server` lines of a config: what a check or a start has to set up, for the cost estimates. */
const countServers = (text: string): number => text.match(/^\s*server\s/gm)?.length ?? 0;

export function createLiveConfig(options: {
  path: string;
  haproxyBin: string;
  checkTimeoutMs: number;
  /** Each check's duration goes here: it is half of what a reload would cost (see plan/apply-cost.ts). */
  costs?: Pick<CostRecorder, 'recordCheck'>;
}): LiveConfig {
  const notePath = unconfirmedPath(options.path);
  // Only this process writes the note: read it from disk once, then follow it in memory.
  let note: { running: string | null } | null | undefined;
  return {
    path: options.path,
    read: () => readIfExists(options.path),
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
      if (result.ok) options.costs?.recordCheck(result.durationMs, countServers(text));
      const summary = result.ok ? '' : summarizeFailure(result);
      return { ok: result.ok, stagedPath: result.stagedPath, diagnostics: result.diagnostics, summary };
    },
    async commit(staged) {
      await commitStaged(staged.stagedPath, options.path);
    },
    async restore(text) {
      if (text !== null) {
        await writeFileAtomic(options.path, text);
        return;
      }
      await unlinkIfExists(options.path);
      await fsyncDirectory(dirname(options.path));
    },
    async markUnconfirmed(running) {
      note = undefined;
      // It holds a whole config: readable by the daemon only.
      await writeFileAtomic(notePath, JSON.stringify({ running }), { mode: 0o600 });
      note = { running };
    },
    async unconfirmed() {
      if (note === undefined) {
        const text = await readIfExists(notePath);
        note = text === null ? null : parseNote(text);
      }
      return note;
    },
    async confirm() {
      if (note === null) return;
      await unlinkIfExists(notePath);
      note = null;
    },
  };
}
