import { describe, expect, it } from 'vitest';
import { ApplyError } from '../errors.js';
import { commands } from './runtime-commands.js';
import { checkGroupReplies, describeFailures, planBatches, runBatches, splitPromptReplies, type CommandGroup } from './runtime-batch.js';
import type { ServerSpec } from '../plan/types.js';

const spec = (name: string): ServerSpec => ({ backend: 'galera', name, address: '10.0.0.1', port: 3306, weight: 10, backup: false });
const addGroup = (name: string, options: string[] = ['check']): CommandGroup => ({
  label: `galera/${name}`,
  commands: [commands.addServer(spec(name), options), commands.enableHealth(spec(name)), commands.enableServer(spec(name))],
});
const lineLength = (g: CommandGroup): number => g.commands.map((c) => c.text).join('; ').length + 1;

/** Answers like HAProxy in interactive mode; `refused` add servers get 2.6's "unknown keyword" error. */
function fakeHaproxy(refused: readonly string[] = []) {
  const connections: string[][] = [];
  const send = (lines: readonly string[]): Promise<string> => {
    connections.push([...lines]);
    const replies = lines
      .flatMap((l) => l.split('; '))
      .map((c) => {
        const add = /^add server (\S+) /.exec(c);
        if (add) return refused.includes(add[1] ?? '') ? "'foo' : unknown keyword." : 'New server registered.';
        return /^(enable|disable) /.test(c) && refused.some((r) => c.endsWith(` ${r}`)) ? 'No such server.' : '';
      });
    return Promise.resolve(`\n> ${replies.map((r) => (r === '' ? '\n> ' : `${r}\n\n> `)).join('')}`);
  };
  return { send, connections };
}

describe('planBatches', () => {
  it('splits groups into batches under the byte limit, in order, one group never split', () => {
    const groups = Array.from({ length: 10 }, (_, i) => addGroup(`n${i}`));
    const per = lineLength(groups[0]!);
    const batches = planBatches(groups, { maxCommandBytes: 8192, maxBatchBytes: per * 3 + 1 });
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(batches.flat()).toEqual(groups);
  });

  it('sends a group larger than the batch limit alone', () => {
    const big = addGroup('big', ['check', 'inter', '1s', 'fall', '3', 'rise', '2']);
    const batches = planBatches([addGroup('a'), big, addGroup('b')], { maxCommandBytes: 8192, maxBatchBytes: lineLength(big) - 1 });
    expect(batches.map((b) => b.map((g) => g.label))).toEqual([['galera/a'], ['galera/big'], ['galera/b']]);
  });

  it('refuses, naming the server, a command longer than HAProxy reads in one buffer', () => {
    const long = addGroup('long', ['check', 'inter', `${'9'.repeat(9000)}ms`]);
    expect(() => planBatches([addGroup('a'), long])).toThrow(/^galera\/long: runtime command of \d+ bytes is longer than 8192/);
  });

  it('refuses a command HAProxy would split or read as a payload', () => {
    expect(() => planBatches([{ label: 'galera/x', commands: [{ text: 'set server galera/x weight 1; del server galera/x', ok: () => true }] }])).toThrow(ApplyError);
    expect(() => planBatches([{ label: 'galera/x', commands: [{ text: 'add map m <<', ok: () => true }] }])).toThrow(/would be split/);
  });
});

describe('splitPromptReplies', () => {
  it("matches each command to its own reply, an empty one included", () => {
    expect(splitPromptReplies('\n> New server registered.\n\n> \n> \n> ', 3)).toEqual(['New server registered.', '', '']);
  });

  it('marks the commands after a cut as unanswered', () => {
    expect(splitPromptReplies('\n> New server registered.\n\n> ', 3)).toEqual(['New server registered.', null, null]);
    expect(splitPromptReplies('', 2)).toEqual([null, null]);
  });

  it('refuses to guess when there are more replies than commands', () => {
    expect(() => splitPromptReplies('\n> a\n> b\n> c\n> ', 2)).toThrow(/cannot match the replies of a batch to its 2 commands/);
  });

  it('refuses a stream that is not in interactive mode', () => {
    expect(() => splitPromptReplies('Unknown command.\n', 1)).toThrow(/did not enter interactive mode/);
  });
});

describe('checkGroupReplies', () => {
  it('fails a group at its first refused command and keeps going with the next groups', () => {
    const groups = [addGroup('a'), addGroup('b'), addGroup('c')];
    const replies = ['New server registered.', '', '', "'foo' : unknown keyword.", 'No such server.', 'No such server.', 'New server registered.', '', ''];
    const { applied, failures } = checkGroupReplies(groups, replies);
    expect(applied.map((g) => g.label)).toEqual(['galera/a', 'galera/c']);
    expect(failures).toEqual([{ label: 'galera/b', command: 'add server galera/b 10.0.0.1:3306 weight 10 check', reply: "'foo' : unknown keyword." }]);
  });

  it('fails the groups left unanswered', () => {
    const { applied, failures } = checkGroupReplies([addGroup('a'), addGroup('b')], ['New server registered.', '', '', null, null, null]);
    expect(applied.map((g) => g.label)).toEqual(['galera/a']);
    expect(describeFailures(failures)).toBe('1 runtime change(s) refused: galera/b: "add server galera/b 10.0.0.1:3306 weight 10 check" got no reply (the connection closed first)');
  });
});

describe('runBatches', () => {
  it('runs every batch on its own connection and matches replies across them; a refused add in the middle fails only its server', async () => {
    const haproxy = fakeHaproxy(['galera/n4']);
    const groups = Array.from({ length: 9 }, (_, i) => addGroup(`n${i}`));
    const outcome = await runBatches(haproxy.send, groups, { maxCommandBytes: 8192, maxBatchBytes: lineLength(groups[0]!) * 2 });
    expect(haproxy.connections.map((c) => c.length)).toEqual([2, 2, 2, 2, 1]);
    expect(outcome.batches).toBe(5);
    expect(outcome.commands).toBe(27);
    expect(outcome.applied.map((g) => g.label)).toEqual(['n0', 'n1', 'n2', 'n3', 'n5', 'n6', 'n7', 'n8'].map((n) => `galera/${n}`));
    expect(describeFailures(outcome.failures)).toBe(`1 runtime change(s) refused: galera/n4: "add server galera/n4 10.0.0.1:3306 weight 10 check" refused: "'foo' : unknown keyword."`);
  });

  it('names the first few failures and counts the rest', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `galera/n${i}`);
    const outcome = await runBatches(fakeHaproxy(names).send, names.map((n) => addGroup(n.slice(7))));
    const line = describeFailures(outcome.failures);
    expect(line).toMatch(/^8 runtime change\(s\) refused: galera\/n0: /);
    expect(line).toMatch(/galera\/n4: [^;]*; and 3 more$/);
  });
});
