import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, commitStaged, discardStaged, summarizeFailure } from '../../src/check/haproxy-check.js';
import { CheckError } from '../../src/errors.js';
import { decodeCluster } from '../../src/model/decode-cluster.js';
import type { ClusterState, KeyValue } from '../../src/model/types.js';
import { createRenderer } from '../../src/render/render-config.js';

const HAPROXY = process.env['HAPROXY_BIN'] ?? 'haproxy';
const PREFIX = '/components/galera';
let dir = '';

/** n flat nodes on distinct 10.x addresses (never contacted: `haproxy -c` only parses). */
function nodes(n: number): KeyValue[] {
  return Array.from({ length: n }, (_, i) => {
    const j = i + 1;
    return { key: `${PREFIX}/node-${i}`, value: `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}:3306` };
  });
}

function render(state: ClusterState, vars: Record<string, string> = {}): string {
  // Sockets and state files live in the temp dir so the file would also run, not only parse.
  return createRenderer({
    vars: { stats_socket: path.join(dir, 'admin.sock'), server_state_file: path.join(dir, 'state'), listen: '127.0.0.1:13306', ...vars },
  }).render(state, { revision: '99' });
}

function leftovers(): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('.'));
}

beforeAll(async () => {
  const probe = await execa(HAPROXY, ['-v'], { reject: false });
  if (probe.exitCode !== 0) {
    throw new Error(`haproxy is required for this test and was not found as ${JSON.stringify(HAPROXY)}: apt-get install haproxy`);
  }
  dir = mkdtempSync(path.join(tmpdir(), 'gh-check-'));
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('checkConfig with the real haproxy', () => {
  it.each([0, 1, 3, 10_000])('the default template with %i servers passes haproxy -c', async (count) => {
    const target = path.join(dir, `n${count}.cfg`);
    const state = decodeCluster(PREFIX, nodes(count));
    expect(state.rejected).toEqual([]);
    const text = render(state);
    expect(text.split('\n').filter((l) => /^\s+server\s/.test(l))).toHaveLength(count);
    const result = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(result.diagnostics.filter((d) => d.level === 'alert')).toEqual([]);
    expect(result.ok).toBe(true);
    expect(path.dirname(result.stagedPath)).toBe(dir);
    expect(readFileSync(result.stagedPath, 'utf8')).toBe(text);
    await discardStaged(result.stagedPath);
    expect(existsSync(result.stagedPath)).toBe(false);
  });

  it('stages with the target mode and commits atomically over it', async () => {
    const target = path.join(dir, 'live.cfg');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o640);
    const text = render(decodeCluster(PREFIX, nodes(3)));
    const result = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(result.ok).toBe(true);
    expect(statSync(result.stagedPath).mode & 0o777).toBe(0o640);
    expect(readFileSync(target, 'utf8')).toBe('old\n');
    await commitStaged(result.stagedPath, target);
    expect(readFileSync(target, 'utf8')).toBe(text);
    expect(statSync(target).mode & 0o777).toBe(0o640);
    expect(leftovers()).toEqual([]);
  });

  it('a broken template gives parsed alerts with line and source, and leaves the target untouched', async () => {
    const target = path.join(dir, 'broken-template.cfg');
    writeFileSync(target, 'previous good config\n');
    const templatePath = path.join(dir, 'broken.njk');
    writeFileSync(templatePath, 'global\n    maxconn 100\n    no-such-keyword {{ listen }}\n');
    const text = createRenderer({ templatePath }).render(decodeCluster(PREFIX, []), { revision: '1' });
    const result = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(result.ok).toBe(false);
    const alert = result.diagnostics.find((d) => d.level === 'alert' && d.line !== undefined);
    expect(alert).toMatchObject({ file: result.stagedPath, line: 3, source: 'no-such-keyword 0.0.0.0:3306' });
    expect(alert?.message).toMatch(/unknown keyword 'no-such-keyword'/);
    expect(summarizeFailure(result)).toMatch(/:3: unknown keyword 'no-such-keyword'/);
    expect(existsSync(result.stagedPath)).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('previous good config\n');
    expect(leftovers()).toEqual([]);
  });

  it('a value HAProxy refuses (built past the model) is reported on its server line', async () => {
    const target = path.join(dir, 'broken-value.cfg');
    writeFileSync(target, 'previous good config\n');
    const state: ClusterState = {
      nodes: [{ id: 'w', name: 'w', address: '10.0.0.1', port: 3306, weight: 1000, backup: false, keys: [] }],
      rejected: [],
      incomplete: [],
    };
    const text = render(state);
    const lineNo = text.split('\n').findIndex((l) => l.includes('server w ')) + 1;
    const result = await checkConfig({ haproxyBin: HAPROXY, configText: text, targetPath: target });
    expect(result.ok).toBe(false);
    expect(result.diagnostics).toContainEqual(
      expect.objectContaining({ level: 'alert', line: lineNo, source: 'server w 10.0.0.1:3306 weight 1000' }),
    );
    expect(readFileSync(target, 'utf8')).toBe('previous good config\n');
    expect(leftovers()).toEqual([]);
  });

  it('a missing binary is a CheckError that says how to install haproxy', async () => {
    const target = path.join(dir, 'nobin.cfg');
    const attempt = checkConfig({ haproxyBin: path.join(dir, 'no-such-haproxy'), configText: 'global\n', targetPath: target });
    await expect(attempt).rejects.toBeInstanceOf(CheckError);
    await expect(attempt).rejects.toThrow(/apt-get install haproxy/);
    expect(leftovers()).toEqual([]);
  });

  it('a hanging check times out as a retryable CheckError and cleans up', async () => {
    const fake = path.join(dir, 'hang.sh');
    writeFileSync(fake, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(fake, 0o755);
    const attempt = checkConfig({ haproxyBin: fake, configText: 'global\n', targetPath: path.join(dir, 'hang.cfg'), timeoutMs: 300 });
    await expect(attempt).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/timed out after 300 ms/) });
    expect(leftovers()).toEqual([]);
  });
});
