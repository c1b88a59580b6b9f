import { describe, expect, it } from 'vitest';
import { buildServerState } from './server-state-file.js';
import { parseConfig } from '../plan/parse-servers.js';

const HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';

// `show servers state` of 2.6.12: `a` started as localhost and was moved to an IP at runtime, `b` runs by name.
const RUNTIME = `1
${HEADER}
2 galera 1 a 127.0.0.71 2 0 1 1 40 6 3 4 6 0 0 0 localhost 3306 - 0 9200 - - 0
2 galera 2 b 127.0.0.72 2 0 1 1 40 6 3 4 6 0 0 0 db2.example 3306 - 0 9200 - - 0
`;

const configWith = (servers: string): ReturnType<typeof parseConfig> =>
  parseConfig(`global\n  server-state-file /tmp/state\nlisten galera\n  bind 127.0.0.1:3306\n  default-server check port 9200\n${servers}`);

const lineOf = (state: string, name: string): string[] | undefined => state.split('\n').find((l) => l.split(' ')[3] === name)?.split(' ');

describe('buildServerState', () => {
  it('keeps a server UP when its IP matches srv_addr, without the name it no longer has', () => {
    const line = lineOf(buildServerState(RUNTIME, configWith('  server a 127.0.0.71:3306 weight 1\n')), 'a');
    expect(line?.[5]).toBe('2');
    expect(line?.[17]).toBe('-');
  });

  it('keeps a server UP when its host name matches srv_fqdn', () => {
    const line = lineOf(buildServerState(RUNTIME, configWith('  server b db2.example:3306 weight 1\n')), 'b');
    expect(line?.[5]).toBe('2');
    expect(line?.[17]).toBe('db2.example');
  });

  it('starts a moved server DOWN', () => {
    const line = lineOf(buildServerState(RUNTIME, configWith('  server a 127.0.0.73:3306 weight 1\n')), 'a');
    expect(line?.[5]).toBe('0');
  });
});

describe('buildServerState and draining', () => {
  it('carries FDRAIN for a server the file marks draining, so a reload starts it drained', () => {
    const state = buildServerState(RUNTIME, configWith('  server a 127.0.0.71:3306 weight 1 # draining\n  server c 127.0.0.75:3306 weight 1 # draining\n'));
    expect(lineOf(state, 'a')?.[6]).toBe('8');
    // A new server starts DOWN and drained: it never takes a client before the node is back.
    expect(lineOf(state, 'c')?.[6]).toBe('8');
  });

  it('clears a forced drain the file no longer asks for, keeping the other admin bits', () => {
    const drained = RUNTIME.replace('2 galera 1 a 127.0.0.71 2 0 ', '2 galera 1 a 127.0.0.71 2 9 ');
    expect(lineOf(buildServerState(drained, configWith('  server a 127.0.0.71:3306 weight 1\n')), 'a')?.[6]).toBe('1');
  });
});
