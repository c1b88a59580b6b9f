import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { TEMPLATE_VARS, defaultVars, knownVarNames, parseSetFlags } from './template-vars.js';

const def = { customTemplate: false };

describe('parseSetFlags', () => {
  it('parses name=value pairs, keeping "=" inside values', () => {
    expect(parseSetFlags(['listen=127.0.0.1:3306', 'check_port=9201'], def)).toEqual({
      listen: '127.0.0.1:3306',
      check_port: '9201',
    });
    expect(parseSetFlags(['motd=a=b'], { customTemplate: true })).toEqual({ motd: 'a=b' });
  });

  it('rejects unknown names for the default template, listing the known ones', () => {
    expect(() => parseSetFlags(['lisen=:3306'], def)).toThrow(ConfigError);
    expect(() => parseSetFlags(['lisen=:3306'], def)).toThrow(/--set lisen: unknown variable .*known: listen, stats_socket/);
  });

  it('allows extra names with a custom template, as plain text only', () => {
    expect(parseSetFlags(['site=dc 1'], { customTemplate: true })).toEqual({ site: 'dc 1' });
    expect(() => parseSetFlags(['site=a\nb'], { customTemplate: true })).toThrow(/--set site=.*printable/);
    expect(() => parseSetFlags(['site=a#b'], { customTemplate: true })).toThrow(/printable/);
    expect(() => parseSetFlags(['bad-name=x'], { customTemplate: true })).toThrow(/letters, digits and _/);
  });

  it('refuses reserved names and malformed flags', () => {
    expect(() => parseSetFlags(['nodes=x'], { customTemplate: true })).toThrow(/reserved/);
    expect(() => parseSetFlags(['listen'], def)).toThrow(/expected name=value/);
    expect(() => parseSetFlags(['=x'], def)).toThrow(/expected name=value/);
  });

  it.each([
    ['listen', ['0.0.0.0:3306', ':3306', '*:3306', '[::]:3306', '127.0.0.1:3306-3307', 'db.local:3306'], ['0.0.0.0', '0.0.0.0:0', '1.2.3.4:70000', 'a b:1', '']],
    ['check_port', ['9200', '1', '65535'], ['0', '65536', '92OO', ' 9200', '09200']],
    ['stats_socket', ['/run/haproxy/admin.sock'], ['admin.sock', '/run/h a', '/run/x\n', '']],
    ['backend', ['galera', 'db_1.a:b-c'], ['a b', '', 'x#']],
    ['maxconn', ['1', '4096'], ['0', '-1', '1e3', '2000000']],
    ['timeout_client', ['8h', '500ms', '30', '1d'], ['8 h', 'h', '-1s', '1y']],
    ['rise', ['1', '100'], ['0', '101']],
    ['hard_stop_after', ['30m'], ['thirty']],
    ['stats_listen', ['', '127.0.0.1:8404'], ['yes']],
    ['read_listen', ['', ':3307'], ['3307']],
    ['writer', ['multi', 'single'], ['both', '']],
    ['log_target', ['', '/dev/log local0', 'stdout format raw local0'], ['/dev/log\nlocal0', "a'b"]],
  ])('%s accepts good values and names itself in one line for bad ones', (name, good, badValues) => {
    for (const value of good) expect(parseSetFlags([`${name}=${value}`], def)).toEqual({ [name]: value });
    for (const value of badValues) {
      let message = '';
      try {
        parseSetFlags([`${name}=${value}`], def);
      } catch (err) {
        message = err instanceof Error ? err.message : String(err);
      }
      expect(message).toMatch(new RegExp(`^--set ${name}=`));
      expect(message).not.toContain('\n');
    }
  });

  it('has valid defaults for every documented variable', () => {
    const defaults = defaultVars();
    for (const name of knownVarNames()) {
      expect(TEMPLATE_VARS[name].validate(defaults[name] ?? '')).toBeNull();
      expect(TEMPLATE_VARS[name].doc.length).toBeGreaterThan(10);
    }
    expect(defaults).toMatchObject({ listen: '0.0.0.0:3306', stats_socket: '/run/haproxy/admin.sock', check_port: '9200' });
  });
});
