import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli, subcommandOf } from './program.js';
import type { CliIO } from './io.js';

const ALL = ['render', 'plan', 'once', 'watch', 'register', 'clustercheck', 'switchover', 'status', 'drain', 'undrain'];

function fakeIO(): CliIO & { out: () => string } {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => (text += d.toString()));
  return { stdout, stderr: new PassThrough(), env: {}, stopSignal: new Promise<string>(() => undefined), onSignal: () => undefined, out: () => text };
}

describe('subcommands are loaded on demand', () => {
  it('builds only the subcommand the arguments name', async () => {
    for (const name of ALL) {
      const program = await buildProgram(fakeIO(), [name, '--help']);
      expect(program.commands.map((c) => c.name())).toEqual([name]);
    }
  });

  it('builds every subcommand for the top-level help, `help` and a misspelt name', async () => {
    for (const argv of [[], ['--help'], ['help', 'watch'], ['wacth']]) {
      expect((await buildProgram(fakeIO(), argv)).commands.map((c) => c.name()), argv.join(' ')).toEqual(ALL);
    }
  });

  it('names the subcommand by the first word that is not a flag, and only a real one', () => {
    expect(subcommandOf(['watch', '--config', 'render'])).toBe('watch');
    expect(subcommandOf(['--version'])).toBeUndefined();
    expect(subcommandOf(['toString'])).toBeUndefined();
  });

  it('still lists every subcommand in the top-level help, and suggests one for a typo', async () => {
    const io = fakeIO();
    expect(await runCli(['--help'], io)).toBe(0);
    for (const name of ALL) expect(io.out()).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const typo = fakeIO();
    let err = '';
    typo.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await runCli(['wacth'], typo)).toBe(2);
    expect(err).toContain('(Did you mean watch?)');
  });
});
