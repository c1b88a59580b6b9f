import { describe, expect, it } from 'vitest';
import { silentLogger } from '../observe/logger.js';
import { createMasterCliReloader, parseReloadReply, parseShowProc } from './master-cli-reloader.js';

describe('parseShowProc', () => {
  it('reads the 2.6 layout, current workers only', () => {
    const reply = `#<PID>          <type>          <reloads>       <uptime>        <version>
5935            master          2 [failed: 1]   0d00h00m22s     2.6.12-1+deb12u4
# workers
6131            worker          1               0d00h00m09s     2.6.12-1+deb12u4
# old workers
5938            worker          2               0d00h00m20s     2.6.12-1+deb12u4
# programs

`;
    expect(parseShowProc(reply)).toEqual({ masterPid: 5935, reloads: 2, failed: 1, workers: [6131] });
  });

  it('returns null for anything else', () => {
    expect(parseShowProc('Unknown command.\n')).toBeNull();
  });
});

// HAProxy 3.0.11's answers to `reload` on the master CLI, captured with socat.
const RELOAD_OK_30 = `Success=1
--
[NOTICE]   (11746) : New worker (11793) forked
[NOTICE]   (11746) : Loading success.
[NOTICE]   (11746) : haproxy version is 3.0.11-1+deb13u4
[NOTICE]   (11746) : path to executable is /usr/sbin/haproxy
[WARNING]  (11746) : Former worker (11747) exited with code 0 (Exit)

`;
const RELOAD_FAILED_30 = `Success=0
--
[NOTICE]   (11746) : haproxy version is 3.0.11-1+deb13u4
[NOTICE]   (11746) : path to executable is /usr/sbin/haproxy
[ALERT]    (11746) : config : parsing [/tmp/cap30/h.cfg:12] : unknown keyword 'no-such-keyword' in 'global' section
[ALERT]    (11746) : config : Error(s) found in configuration file : /tmp/cap30/h.cfg
[ALERT]    (11746) : config : Fatal errors found in configuration.
[WARNING]  (11746) : Loading failure!

`;
const showProc = (reloads: number, worker: number): string => `#<PID>          <type>          <reloads>       <uptime>        <version>
11746           master          ${reloads} [failed: 0]   0d00h00m04s     3.0.11-1+deb13u4
# workers
${worker}           worker          0               0d00h00m01s     3.0.11-1+deb13u4
# programs

`;

describe('parseReloadReply', () => {
  it('reads the 2.7+ verdict and keeps the alert lines', () => {
    expect(parseReloadReply(RELOAD_OK_30)).toEqual({ success: true, alerts: [] });
    expect(parseReloadReply(RELOAD_FAILED_30)).toEqual({
      success: false,
      alerts: [
        "[ALERT] (11746) : config : parsing [/tmp/cap30/h.cfg:12] : unknown keyword 'no-such-keyword' in 'global' section",
        '[ALERT] (11746) : config : Error(s) found in configuration file : /tmp/cap30/h.cfg',
        '[ALERT] (11746) : config : Fatal errors found in configuration.',
      ],
    });
  });

  it("has no verdict for 2.6's empty answer", () => {
    expect(parseReloadReply('')).toBeNull();
    expect(parseReloadReply('[NOTICE]   (1) : New worker (2) forked\n')).toBeNull();
  });
});

describe('createMasterCliReloader', () => {
  /** A master whose `show proc` answers from `procs` in turn (the last one repeats). */
  const fakeMaster = (reloadReply: string, procs: string[]) => {
    let i = 0;
    return (_socket: string, command: string): Promise<string> => {
      if (command === 'reload') return Promise.resolve(reloadReply);
      const reply = procs[Math.min(i, procs.length - 1)] ?? '';
      i += 1;
      return Promise.resolve(reply);
    };
  };

  it("fails at once on 3.0's Success=0, with HAProxy's alerts in the error", async () => {
    // `show proc` never moves: without the verdict this would only fail after the confirm timeout.
    const reloader = createMasterCliReloader({
      masterSocket: '/run/master.sock',
      confirmTimeoutMs: 60_000,
      send: fakeMaster(RELOAD_FAILED_30, [showProc(1, 11793)]),
      logger: silentLogger(),
      pollMs: 1,
    });
    await expect(reloader.reload('test')).rejects.toThrow(/HAProxy reload failed: .*unknown keyword 'no-such-keyword' in 'global' section/);
  });

  it("confirms a 2.6 reload (no verdict) through show proc's new worker", async () => {
    const reloader = createMasterCliReloader({
      masterSocket: '/run/master.sock',
      confirmTimeoutMs: 5_000,
      send: fakeMaster('', [showProc(1, 100), showProc(1, 100), showProc(2, 200)]),
      logger: silentLogger(),
      pollMs: 1,
    });
    await expect(reloader.reload('test')).resolves.toBeUndefined();
  });
});
