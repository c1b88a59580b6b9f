import { describe, expect, it } from 'vitest';
import { parseShowProc } from './master-cli-reloader.js';

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
