import type { Plan, RuntimeServer } from '../plan/types.js';

export type ApplyOutcome = 'noop' | 'runtime' | 'reload' | 'failed';

export interface ApplyResult {
  readonly outcome: ApplyOutcome;
  readonly plan: Plan;
  /** Set when a runtime op failed and the change was carried by a reload instead. */
  readonly fellBackToReload: boolean;
  readonly durationMs: number;
  readonly error?: Error;
}

export interface ApplyInput {
  readonly previous: string | null;
  readonly next: string;
  readonly revision: string;
  /**
   * False when `next` is not on disk yet (server-only changes go to the runtime first): a plan that
   * needs a reload, or a runtime op that fails, then returns `failed` instead of reloading. @default true
   */
  readonly allowReload?: boolean;
  /** A reason to reload that the server diff cannot see (e.g. the single writer moved in the server order). */
  readonly reloadReason?: string;
}

/**
 * Brings the running HAProxy from `previous` (the config it runs, or null if unknown) to `next`, the
 * config already checked and written to disk. Runtime API first; reload only for the plan's reasons;
 * every reload is confirmed (new worker up, expected servers present) before this resolves.
 */
export interface Applier {
  apply(input: ApplyInput): Promise<ApplyResult>;
  /**
   * What `apply` would do now, without doing it: the same plan from the same runtime read. With the
   * runtime unreadable, the plan of the file alone and why the runtime could not be read.
   */
  plan?(input: Omit<ApplyInput, 'allowReload'>): Promise<{ plan: Plan; runtimeError?: string }>;
  /** What HAProxy runs now (`show servers state` + `show stat`), or null when it cannot be read. */
  /**
   * What HAProxy runs now; with `backend`, that section's servers alone, from `show servers state` only
   * (no session counts): the single-writer look every second stays cheap beside a large other backend.
   */
  runtime?(backend?: string): Promise<readonly RuntimeServer[] | null>;
  /** Reads the runtime state and repairs drift from `config` (servers missing, extra, disabled by hand). */
  reconcile(config: string, revision: string): Promise<ApplyResult>;
  /** Servers being drained (`backend/server`): deleted once their sessions end or the drain timeout passes. */
  draining?(): string[];
  /** Resolves once every drain running now has finished. */
  settleDrains?(): Promise<void>;
  /** Ends every drain now, as if its timeout had passed: remaining sessions are shut, servers deleted. */
  hurryDrains?(): void;
}

/** One way of reloading HAProxy; resolves only once the new worker is confirmed running. */
export interface Reloader {
  reload(reason: string): Promise<void>;
}
