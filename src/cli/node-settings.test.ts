import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

/** The flags on the bin's first line, `#!/usr/bin/env -S node <flags>`. */
function binFlags(): string {
  const first = read('src/cli/main.ts').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  if (match?.[1] === undefined) throw new Error(`src/cli/main.ts starts ${JSON.stringify(first)}, not "#!/usr/bin/env -S node <flags>"`);
  return match[1];
}

// The daemon is started three ways: the npm bin (its first line), the sidecar image (entrypoint.sh) and
// the systemd unit, the last two running the standalone binary, which takes V8 flags only through
// NODE_OPTIONS on Node 20. Whatever the bin is measured with (bench/ runs it with these flags) must be
// what every deployment gets.
describe('the V8 settings the daemon is deployed with', () => {
  it('are flags NODE_OPTIONS accepts, so the standalone binary can be given them', () => {
    for (const flag of binFlags().split(' ')) expect(process.allowedNodeEnvironmentFlags.has(flag.replace(/=.*/, '')), flag).toBe(true);
  });

  it('are the same in the sidecar entrypoint as on the bin', () => {
    expect(read('haproxy/entrypoint.sh')).toMatch(new RegExp(`^NODE_OPTIONS=\\$\\{NODE_OPTIONS-${binFlags()}\\} galera-haproxy watch `, 'm'));
  });

  it('are the same in the systemd unit as on the bin', () => {
    expect(read('haproxy/galera-haproxy.service')).toMatch(new RegExp(`^Environment=NODE_OPTIONS=${binFlags()}$`, 'm'));
  });
});
