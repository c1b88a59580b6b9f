import { OPTION_NAMES, defaultText, envName, flagText, optionDef } from './option-table.js';

export const OPTIONS_START = '<!-- options:start -->';
export const OPTIONS_END = '<!-- options:end -->';

const cell = (text: string): string => text.replace(/\|/g, '\\|');
const code = (text: string): string => `\`${text}\``;

/** The README's table of options, made from the option table (`npm run options-table` prints it). */
export function renderOptionsMarkdown(): string {
  const rows = OPTION_NAMES.map((name) => {
    const d = optionDef(name);
    const envs = [envName(name), d.alsoEnv].filter((e): e is string => e !== null && e !== undefined);
    const fallback = defaultText(name);
    const plainDefault = d.default !== undefined && d.defaultText === undefined;
    return [
      d.repeatable ? `${code('set')}, ${code('set-from-file')} (maps)` : d.file === false ? '—' : code(name),
      code(flagText(name)),
      envs.length === 0 ? '—' : envs.map(code).join(', '),
      d.commands.join(', '),
      fallback === null ? '—' : plainDefault ? code(fallback) : fallback,
      d.doc,
    ].map(cell);
  });
  return [
    '| file key | flag | environment | commands | default | what it does |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
