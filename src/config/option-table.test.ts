import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../cli/program.js';
import { addCommandFlags } from '../cli/pipeline-flags.js';
import { parseConfigFile } from './config-file.js';
import { OPTIONS_END, OPTIONS_START, renderOptionsMarkdown } from './options-markdown.js';
import { OPTION_NAMES, attributeName, optionDef, optionsOf, type CommandName } from './option-table.js';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

function parseFlags(command: CommandName, argv: string[]): Record<string, unknown> {
  const cmd = addCommandFlags(new Command(command).exitOverride(), command);
  cmd.parse(argv, { from: 'user' });
  return cmd.opts();
}

describe('flags made from the option table', () => {
  it('each command has exactly the table\'s options for it', async () => {
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, stopSignal: new Promise<string>(() => undefined), onSignal: () => undefined };
    const program = await buildProgram(io);
    for (const command of ['render', 'once', 'watch'] as const) {
      const sub = program.commands.find((c) => c.name() === command);
      const longs = (sub?.options ?? []).map((o) => o.long?.replace(/^--(no-)?/, '')).filter((l) => l !== 'help');
      expect(new Set(longs), command).toEqual(new Set(optionsOf(command)));
    }
  });

  it('sets no default: an absent flag stays undefined so the file and environment show through', () => {
    expect(parseFlags('watch', [])).toEqual({});
    expect(parseFlags('watch', ['--no-runtime-api', '--set', 'a=1', '--set', 'b=2', '--min-servers', '2'])).toEqual({
      runtimeApi: false,
      set: ['a=1', 'b=2'],
      minServers: '2',
    });
    expect(parseFlags('once', ['--runtime-api'])).toEqual({ runtimeApi: true });
  });

  it('shows the table\'s default in --help', () => {
    const help = addCommandFlags(new Command('watch'), 'watch').helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('--min-servers <n> never write a backend with fewer servers than this (default: 1)');
    expect(help).toContain('--stale-after <duration> /healthz turns 503 when etcd has been silent this long (default: 30s)');
    expect(help).toContain('(default: http://127.0.0.1:2379; also $ETCDCTL_ENDPOINTS)');
    expect(help).toContain('--no-runtime-api apply every change by a confirmed reload');
  });

  it('stores each option under commander\'s attribute name', () => {
    for (const name of OPTION_NAMES) {
      const d = optionDef(name);
      const flag = d.negated === undefined ? `--${name}${d.value === undefined ? '' : ' x'}` : `--no-${name}`;
      const argv = flag.split(' ');
      const command = d.commands[d.commands.length - 1] ?? 'watch';
      expect(Object.keys(parseFlags(command, argv)), name).toEqual([attributeName(name)]);
    }
  });
});

describe('README', () => {
  it('holds exactly the generated table of options between its markers', () => {
    const start = README.indexOf(OPTIONS_START);
    const end = README.indexOf(OPTIONS_END);
    expect(start, 'README.md has no options markers').toBeGreaterThan(-1);
    expect(README.slice(start + OPTIONS_START.length, end).trim(), 'run `npm run options-table` and paste it into README.md').toBe(renderOptionsMarkdown());
  });

  it('shows a config file that is accepted', () => {
    const section = README.slice(README.indexOf('## Configuration file'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const file = parseConfigFile(example, '/etc/galera-haproxy/config.yaml', () => 'secret');
    expect(file.services?.map((s) => s.name)).toEqual(['galera', 'webserver_nodes']);
    expect(file.vars.map((v) => v.name)).toEqual(['stats_listen', 'stats_password']);
  });
});
