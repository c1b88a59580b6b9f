export type DiagnosticLevel = 'alert' | 'warning' | 'notice';

/** One message of `haproxy -c`, as data. */
export interface Diagnostic {
  readonly level: DiagnosticLevel;
  readonly file?: string;
  readonly line?: number;
  readonly message: string;
  /** The config line the message points at (trimmed, control characters escaped), when the checked text is known. */
  readonly source?: string;
}

/**
 * HAProxy 2.6 prints `[ALERT]    (pid) : config : parsing [file:line] : msg` or
 * `[WARNING]  (pid) : config : [file:line] : msg`; other versions drop the pid or the `config :` tag,
 * so both are optional here. Lines that follow a tagged line without a tag of their own continue it.
 */
const TAGGED = /^\[(ALERT|WARNING|NOTICE)\]\s*(?:\(\d+\)\s*)?:\s*(?:config\s*:\s*)?(.*)$/;
const POSITION = /^(?:parsing\s+)?\[([^\]]+?):(\d+)\]\s*:?\s*(.*)$/;

/** The longest part of a config line quoted in a message. */
const MAX_SOURCE = 200;

/** A config line fit for a one-line message: trimmed, shortened, control characters as `\xNN`. */
export function quoteSourceLine(text: string): string {
  const trimmed = text.trim();
  const short = trimmed.length > MAX_SOURCE ? `${trimmed.slice(0, MAX_SOURCE)}…` : trimmed;
  return [...short].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('');
}

/**
 * `configText` is the checked file's text; `checkedPath`, when given, limits the quoted lines to
 * messages about that file (an alert about an included file must not quote the wrong text).
 */
export function parseDiagnostics(output: string, configText?: string, checkedPath?: string): Diagnostic[] {
  const sourceLines = configText?.split('\n');
  const result: Diagnostic[] = [];
  for (const rawLine of output.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    const tagged = TAGGED.exec(line);
    if (!tagged) {
      const last = result[result.length - 1];
      if (last !== undefined && /^\s+\S/.test(line)) {
        result[result.length - 1] = { ...last, message: `${last.message} ${line.trim()}` };
      }
      continue;
    }
    const level = (tagged[1] ?? 'ALERT').toLowerCase() as DiagnosticLevel;
    const rest = (tagged[2] ?? '').trim();
    const position = POSITION.exec(rest);
    if (!position) {
      result.push({ level, message: rest });
      continue;
    }
    const lineNo = Number(position[2]);
    const file = position[1] ?? '';
    const raw = checkedPath === undefined || file === checkedPath ? sourceLines?.[lineNo - 1] : undefined;
    const source = raw === undefined ? undefined : quoteSourceLine(raw);
    result.push({
      level,
      file,
      line: lineNo,
      message: (position[3] ?? '').trim(),
      ...(source === undefined ? {} : { source }),
    });
  }
  return result;
}

/** `message (line N: text)`: HAProxy's message with the line it names, which a staged file no longer shows. */
export function describeDiagnostic(d: Diagnostic): string {
  return d.source === undefined || d.line === undefined ? d.message : `${d.message} (line ${d.line}: ${d.source})`;
}

/** `[level] file:line: message (line N: text)`, one line per diagnostic, for logs and stderr. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file === undefined ? '' : `${d.file}${d.line === undefined ? '' : `:${d.line}`}: `;
  return `[${d.level}] ${where}${describeDiagnostic(d)}`;
}
