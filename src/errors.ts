/**
 * One error class per boundary. Each carries a stable `code` for callers and metrics, the underlying
 * `cause`, and whether retrying can help: callers branch on `retryable`, never on message text.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'ETCD_UNAVAILABLE'
  | 'ETCD_COMPACTED'
  | 'ETCD_AUTH'
  | 'TEMPLATE_ERROR'
  | 'CHECK_FAILED'
  | 'WRITE_FAILED'
  | 'RUNTIME_API'
  | 'RELOAD_FAILED'
  | 'GUARD'
  | 'MYSQL';

export class GaleraHaproxyError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad flags, files or environment: fatal at start-up, reported as one line. */
export class ConfigError extends GaleraHaproxyError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

/** etcd could not be reached or refused the request. Retryable unless it is an auth failure. */
export class SourceError extends GaleraHaproxyError {}

/** The template failed to render (syntax error, missing file, filter rejected a value). */
export class RenderError extends GaleraHaproxyError {
  /** The template file and line the error points at, when nunjucks reported them. */
  readonly file?: string;
  readonly line?: number;
  /** The expression that had no value, when that is what went wrong (a variable nobody set). */
  readonly undefinedExpression?: string;

  constructor(message: string, options: { cause?: unknown; file?: string; line?: number; undefinedExpression?: string } = {}) {
    super('TEMPLATE_ERROR', message, options);
    if (options.file !== undefined) this.file = options.file;
    if (options.line !== undefined) this.line = options.line;
    if (options.undefinedExpression !== undefined) this.undefinedExpression = options.undefinedExpression;
  }
}

/** `haproxy -c` rejected the staged file, or could not be run. */
export class CheckError extends GaleraHaproxyError {}

/** Talking to HAProxy (Runtime API, master CLI, reload command) failed or gave an unexpected reply. */
export class ApplyError extends GaleraHaproxyError {}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();

/**
 * One line for logs and stderr: the message, then each cause in the chain that adds something.
 * Wrappers often quote their cause already (`reading …: ECONNREFUSED`), and a cause repeated after it
 * would print the same text twice, so a cause already contained in the line is skipped.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return oneLine(String(err));
  let line = oneLine(err.message);
  const seen = new Set<Error>([err]);
  for (let cause = err.cause; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    const text = oneLine(cause.message);
    if (text !== '' && !line.includes(text)) line = `${line}: ${text}`;
  }
  return line;
}
