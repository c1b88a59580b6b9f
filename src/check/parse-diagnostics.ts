export type DiagnosticLevel = 'alert' | 'warning' | 'notice';

/** One message of `haproxy -c`, as data. */
export interface Diagnostic {
  readonly level: DiagnosticLevel;
  readonly file?: string;
  readonly line?: number;
  readonly message: string;
  /** The config line the message points at, when the checked text is known. */
  readonly source?: string;
}

/**
 * HAProxy 2.6 prints `[ALERT]    (pid) : config : parsing [file:line] : msg` or
 * `[WARNING]  (pid) : config : [file:line] : msg`; other versions drop the pid or the `config :` tag,
 * so both are optional here. Lines that follow a tagged line without a tag of their own continue it.
 */
const TAGGED = /^\[(ALERT|WARNING|NOTICE)\]\s*(?:\(\d+\)\s*)?:\s*(?:config\s*:\s*)?(.*)$/;
const POSITION = /^(?:parsing\s+)?\[([^\]]+?):(\d+)\]\s*:?\s*(.*)$/;

export function parseDiagnostics(output: string, configText?: string): Diagnostic[] {
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
    const source = sourceLines?.[lineNo - 1]?.trim();
    result.push({
      level,
      file: position[1] ?? '',
      line: lineNo,
      message: (position[3] ?? '').trim(),
      ...(source === undefined ? {} : { source }),
    });
  }
  return result;
}

/** `file:line: message (source)`, one line per diagnostic, for logs and stderr. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file === undefined ? '' : `${d.file}${d.line === undefined ? '' : `:${d.line}`}: `;
  const source = d.source === undefined ? '' : ` (${JSON.stringify(d.source)})`;
  return `[${d.level}] ${where}${d.message}${source}`;
}
