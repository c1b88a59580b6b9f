import { describe, expect, it } from 'vitest';
import { parseConfig } from './parse-servers.js';
import { groupServerOptions, mergeServerOptions } from './server-options.js';

const words = (line: string): string[] => line.split(' ').filter((w) => w !== '');

describe('groupServerOptions', () => {
  it('takes each keyword with its arguments, source with its optional ones', () => {
    expect(groupServerOptions(words('check inter 1s source 10.0.0.1 usesrc client interface eth0 on-marked-down shutdown-sessions ssl'))).toEqual([
      { keyword: 'check', args: [] },
      { keyword: 'inter', args: ['1s'] },
      { keyword: 'source', args: ['10.0.0.1', 'usesrc', 'client', 'interface', 'eth0'] },
      { keyword: 'on-marked-down', args: ['shutdown-sessions'] },
      { keyword: 'ssl', args: [] },
    ]);
  });

  it('lets an unknown keyword keep its values up to the next known keyword', () => {
    expect(groupServerOptions(words('future-kw a b check'))).toEqual([
      { keyword: 'future-kw', args: ['a', 'b'] },
      { keyword: 'check', args: [] },
    ]);
  });
});

describe('mergeServerOptions', () => {
  it('keeps what a later list does not mention, and the later value of what it does', () => {
    expect(mergeServerOptions(words('check inter 500ms rise 2'), words('weight 10 inter 2s'))).toEqual(words('check rise 2 weight 10 inter 2s'));
  });

  it('lets no-check undo check, and check undo no-check', () => {
    expect(mergeServerOptions(words('check port 9200'), words('no-check'))).toEqual(words('port 9200'));
    expect(mergeServerOptions(words('no-check'), words('check'))).toEqual(words('check'));
    expect(mergeServerOptions(words('ssl verifyhost db'), words('no-ssl no-verifyhost'))).toEqual([]);
  });

  it('keeps negations that are settings of their own', () => {
    expect(mergeServerOptions(words('no-sslv3 tls-tickets'), words('no-tls-tickets'))).toEqual(words('no-sslv3 no-tls-tickets'));
  });
});

describe('parseConfig default-server', () => {
  it('merges the defaults section with the backend, as HAProxy does', () => {
    const parsed = parseConfig(
      'defaults\n  default-server check inter 500ms\nlisten a\n  default-server weight 10\n  server s 1.2.3.4:1\nbackend b\n  default-server no-check\n  default-server inter 1s\n',
    );
    expect(parsed.defaultServer.get('a')).toEqual(words('check inter 500ms weight 10'));
    expect(parsed.defaultServer.get('b')).toEqual(words('inter 1s'));
  });

  it('starts over at each defaults section', () => {
    const parsed = parseConfig('defaults\n  default-server check\ndefaults\n  default-server inter 1s\nbackend x\n');
    expect(parsed.defaultServer.get('x')).toEqual(words('inter 1s'));
  });

  it('gives a server without its own weight the default-server weight', () => {
    const parsed = parseConfig('defaults\n  default-server weight 20\nlisten a\n  server s 1.2.3.4:1\n  server t 1.2.3.5:1 weight 3\nlisten b\n  server u 1.2.3.6:1\n');
    expect(parsed.servers.map((s) => s.weight)).toEqual([20, 3, 20]);
    expect(parseConfig('listen c\n  server v 1.2.3.7:1\n').servers[0]?.weight).toBe(1);
  });
});
