import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parseDiagnostics } from './parse-diagnostics.js';

// Output of HAProxy 2.6.12 `haproxy -c -f bad.cfg` (stderr), kept verbatim.
const HAPROXY_26_OUTPUT = `[NOTICE]   (11395) : haproxy version is 2.6.12-1+deb12u4
[NOTICE]   (11395) : path to executable is /usr/sbin/haproxy
[ALERT]    (11395) : config : parsing [bad.cfg:3] : unknown keyword 'bogus' in 'global' section
[ALERT]    (11395) : config : [bad.cfg:11] : 'server g/a' : invalid port '99999'
[WARNING]  (11395) : config : [bad.cfg:12] : 'server g/b' : could not resolve address 'db3.example.org', disabling server.
[ALERT]    (11395) : config : Error(s) found in configuration file : bad.cfg
[ALERT]    (11395) : config : Fatal errors found in configuration.
`;

const CONFIG = ['global', '    master-worker', '    bogus 1'].join('\n');

describe('parseDiagnostics', () => {
  it('parses levels, file, line and message of HAProxy 2.6 output', () => {
    const diagnostics = parseDiagnostics(HAPROXY_26_OUTPUT, CONFIG);
    expect(diagnostics).toEqual([
      { level: 'notice', message: 'haproxy version is 2.6.12-1+deb12u4' },
      { level: 'notice', message: 'path to executable is /usr/sbin/haproxy' },
      { level: 'alert', file: 'bad.cfg', line: 3, message: "unknown keyword 'bogus' in 'global' section", source: 'bogus 1' },
      { level: 'alert', file: 'bad.cfg', line: 11, message: "'server g/a' : invalid port '99999'" },
      {
        level: 'warning',
        file: 'bad.cfg',
        line: 12,
        message: "'server g/b' : could not resolve address 'db3.example.org', disabling server.",
      },
      { level: 'alert', message: 'Error(s) found in configuration file : bad.cfg' },
      { level: 'alert', message: 'Fatal errors found in configuration.' },
    ]);
  });

  it('accepts lines without pid or config tag, and folds indented continuation lines', () => {
    const diagnostics = parseDiagnostics('[ALERT] : parsing [/etc/h.cfg:7] : bad thing\n   more detail\nplain text\n');
    expect(diagnostics).toEqual([{ level: 'alert', file: '/etc/h.cfg', line: 7, message: 'bad thing more detail' }]);
  });

  it('keeps a file path containing a colon', () => {
    const [d] = parseDiagnostics('[ALERT]    (1) : config : parsing [/tmp/a:b/h.cfg:12] : oops');
    expect(d).toMatchObject({ file: '/tmp/a:b/h.cfg', line: 12, message: 'oops' });
  });

  it('formats one line per diagnostic', () => {
    const [, , d] = parseDiagnostics(HAPROXY_26_OUTPUT, CONFIG);
    expect(d && formatDiagnostic(d)).toBe(`[alert] bad.cfg:3: unknown keyword 'bogus' in 'global' section (line 3: bogus 1)`);
  });

  it('quotes the named line of the checked file only, trimmed, with control characters escaped', () => {
    const text = ['global', '    bogus\t1\x1b[31m   '].join('\n');
    const output = '[ALERT] (1) : config : parsing [/etc/h/.staged:2] : unknown keyword\n[ALERT] (1) : config : parsing [/etc/h/other.cfg:2] : elsewhere\n';
    const [own, other] = parseDiagnostics(output, text, '/etc/h/.staged');
    expect(own && formatDiagnostic(own)).toBe('[alert] /etc/h/.staged:2: unknown keyword (line 2: bogus\\x091\\x1b[31m)');
    expect(other?.source).toBeUndefined();
  });
});
