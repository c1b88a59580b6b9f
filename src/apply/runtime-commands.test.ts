import { describe, expect, it } from 'vitest';
import { ApplyError } from '../errors.js';
import { commands, parseServersState, parseShowStat, runCommands, splitReplies } from './runtime-commands.js';

// Replies as haproxy 2.6.12 wrote them on its stats socket.
const STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
2 galera 1 n1 127.0.0.21 2 0 10 10 3 8 2 0 6 0 0 0 - 3306 - 0 9200 - - 9200
2 galera 3 n3 127.0.0.23 0 1 5 5 0 1 0 0 2 0 0 0 - 3307 - 0 9200 - - 9200

`;
const STAT = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck
galera,n1,0,0,4,0,,0,0,0,,0,,0,0,0,0,UP,10,1,0
galera,n3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,0,1
galera,BACKEND,0,0,4,0,,0,0,0,,0,,0,0,0,0,UP,10,1,0
`;

describe('parseServersState', () => {
  it('reads format 1 and takes backup and sessions from show stat', () => {
    const stats = parseShowStat(STAT);
    expect(stats.get('galera/n1')).toEqual({ scur: 4, backup: false, status: 'UP', address: '', weight: 10 });
    expect(stats.get('galera/n3')).toMatchObject({ backup: true, status: 'MAINT' });
    expect(parseServersState(STATE, stats)).toEqual([
      { backend: 'galera', name: 'n1', address: '127.0.0.21', port: 3306, weight: 10, backup: false, operState: 2, adminState: 0, sessions: 4 },
      { backend: 'galera', name: 'n3', address: '127.0.0.23', port: 3307, weight: 5, backup: true, operState: 0, adminState: 1, sessions: 0 },
    ]);
  });

  it('takes srv_addr as the address and srv_fqdn apart, since set server addr keeps the old name', () => {
    // Server `a` started as localhost:3306, then `set server galera/a addr 127.0.0.71 port 3306` (2.6.12).
    const reply = `${STATE.split('\n').slice(0, 2).join('\n')}\n2 galera 1 a 127.0.0.71 2 0 1 1 1 1 0 2 0 0 0 0 localhost 3306 - 0 0 - - 0\n`;
    const [a] = parseServersState(reply);
    expect(a).toMatchObject({ name: 'a', address: '127.0.0.71', fqdn: 'localhost', port: 3306 });
    expect(parseServersState(STATE)[0]).not.toHaveProperty('fqdn');
  });

  it('rejects an unknown format', () => {
    expect(() => parseServersState('2\n')).toThrow(ApplyError);
  });
});

describe('runCommands', () => {
  const s = { backend: 'galera', name: 'n2', address: '::1', port: 3306, weight: 5, backup: true };

  it('builds add server with the default-server options', () => {
    expect(commands.addServer(s, ['check', 'port', '9200']).text).toBe('add server galera/n2 [::1]:3306 weight 5 backup check port 9200');
  });

  it('splits one request into per-command replies', async () => {
    const sent: string[] = [];
    const replies = await runCommands(
      (text) => {
        sent.push(text);
        return Promise.resolve('New server registered.\n\n\n\n');
      },
      [commands.addServer(s, []), commands.enableHealth(s), commands.enableServer(s)],
    );
    expect(sent).toEqual(['add server galera/n2 [::1]:3306 weight 5 backup; enable health galera/n2; enable server galera/n2']);
    expect(replies).toEqual(['New server registered.', '', '']);
  });

  it('an unexpected reply is an ApplyError naming command and reply', async () => {
    const run = runCommands(() => Promise.resolve('\nAbsolute weight can only be between 0 and 256 inclusive.\n\n\n'), [
      commands.enableHealth(s),
      commands.setWeight({ ...s, weight: 999 }),
      commands.enableServer(s),
    ]);
    await expect(run).rejects.toThrow('unexpected reply to "set server galera/n2 weight 999": "Absolute weight can only be between 0 and 256 inclusive."');
  });

  it('keeps separators out of commands', async () => {
    await expect(runCommands(() => Promise.resolve(''), [commands.delServer({ ...s, name: 'a;b' })])).rejects.toThrow(ApplyError);
  });

  // HAProxy 3.0.11's replies, captured with socat on its stats socket.
  it('accepts 3.0\'s "nothing changed" to an unchanged set server addr', async () => {
    await expect(runCommands(() => Promise.resolve('nothing changed\n\n'), [commands.setAddr(s)])).resolves.toEqual(['nothing changed']);
  });

  it('accepts 3.0\'s cookie warning before "New server registered." in a multi-command reply', async () => {
    const raw = 'Ignoring cookie as HTTP mode is disabled.\nNew server registered.\n\nnothing changed\n\n';
    await expect(runCommands(() => Promise.resolve(raw), [commands.addServer(s, ['cookie', 'n2']), commands.setAddr(s)])).resolves.toEqual([
      'Ignoring cookie as HTTP mode is disabled.\nNew server registered.',
      'nothing changed',
    ]);
  });

  it('still refuses other text around those replies', async () => {
    await expect(runCommands(() => Promise.resolve('Something else.\nNew server registered.\n\n'), [commands.addServer(s, [])])).rejects.toThrow(ApplyError);
    await expect(runCommands(() => Promise.resolve('New server registered.\nIgnoring cookie as HTTP mode is disabled.\n\n'), [commands.addServer(s, [])])).rejects.toThrow(ApplyError);
    await expect(runCommands(() => Promise.resolve('nothing changed, but\n\n'), [commands.setAddr(s)])).rejects.toThrow(ApplyError);
    await expect(runCommands(() => Promise.resolve("'cookie' option is not accepted for dynamic server\n\n"), [commands.addServer(s, [])])).rejects.toThrow(ApplyError);
  });

  it('splitReplies pads missing replies', () => {
    expect(splitReplies('\n', 2)).toEqual(['', '']);
  });
});
