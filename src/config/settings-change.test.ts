import { describe, expect, it } from 'vitest';
import { describeServiceChanges, restartOnlyChanges } from './settings-change.js';
import { resolvePipelineOptions } from './daemon-options.js';
import type { ServiceSpec } from '../model/service.js';

const service = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name, prefix: `/${name}/`, listen: [':1'], mode: 'tcp', balance: 'leastconn', check: { type: 'tcp' }, serverOptions: [], forwardFor: false,
  minServers: 1, defaultPort: 3306, writer: 'multi', ...extra,
});

describe('restartOnlyChanges', () => {
  it('names options wired at start-up, not what a pass renders', () => {
    const before = resolvePipelineOptions({});
    const after = { ...before, masterSocket: '/run/m.sock', drainTimeoutMs: 1, setFlags: ['maxconn=1'], minServers: 3, prefix: '/x', templatePath: '/t.njk' };
    expect(restartOnlyChanges(before, after)).toEqual(['drain-timeout', 'master-socket']);
    expect(restartOnlyChanges(before, { ...before })).toEqual([]);
  });
});

describe('describeServiceChanges', () => {
  it('tells added, removed and changed sections apart', () => {
    expect(describeServiceChanges([service('a'), service('b')], [service('b', { balance: 'roundrobin' }), service('c')])).toEqual({ added: ['c'], removed: ['a'], changed: ['b'] });
  });
});
