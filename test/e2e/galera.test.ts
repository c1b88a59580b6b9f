import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGaleraE2e, type GaleraE2e, type Proxy } from './galera-harness.js';
import {
  formatTable,
  scenarioDeregister,
  scenarioKill,
  scenarioRejoin,
  scenarioSingleWriter,
  waitAllUp,
  type ScenarioResult,
} from './galera-scenarios.js';

// One cluster for every scenario: forming it is the slowest step, and the scenarios leave it whole
// for the next one (the killed node is restarted before the register and single-writer scenarios).
describe('a real 3-node MariaDB Galera cluster behind HAProxy, kept in step by galera-haproxy', () => {
  let env: GaleraE2e;
  let proxy: Proxy;
  const results: ScenarioResult[] = [];

  beforeAll(async () => {
    env = await startGaleraE2e();
    proxy = await env.startProxy();
    await waitAllUp(env, proxy);
  });

  afterAll(async () => {
    if (results.length > 0) console.log(`\n${formatTable(results)}\n${JSON.stringify({ e2e: 'galera', results })}`);
    await env?.stop();
  });

  it('kill -9 one mariadbd: no new connection fails, and the node leaves HAProxy', async () => {
    const r = await scenarioKill(env, proxy, 2);
    results.push(r);
    expect(r.tried).toBeGreaterThan(100);
    // Sessions in flight on the killed node die with it (TCP mode); new connections must not fail.
    expect(r.failedAfterFault, r.firstFailures.join('\n')).toBe(0);
    expect(r.followed['check marked DOWN']).not.toBeNull();
    expect(r.followed['server removed']).not.toBeNull();
  });

  it('restart it with a forced SST: a node whose clustercheck says 503 gets no new sessions once HAProxy took it out', async () => {
    const r = await scenarioRejoin(env, proxy, 2);
    results.push(r);
    // Failures are counted in the table, not asserted: sessions open on the donor when HAProxy marks
    // it down are cut by the template's `on-marked-down shutdown-sessions`, a template choice.
    expect(r.tried).toBeGreaterThan(100);
    expect(r.followed['joiner UP in HAProxy']).not.toBeNull();
    expect(r.facts['new sessions to a 503 node after HAProxy took it out']).toBe(0);
  });

  it('SIGTERM a register: the node is drained, then removed, and gets no new sessions', async () => {
    const r = await scenarioDeregister(env, proxy, 0);
    results.push(r);
    expect(r.facts['register exit code']).toBe(0);
    expect(r.connectFailed + r.queryFailed, r.firstFailures.join('\n')).toBe(0);
    expect(r.followed['server removed']).not.toBeNull();
    expect(r.facts['new sessions after drain started']).toBe(0);
  });

  it('single writer: every write lands on one node; killing it moves writes to exactly one other node', async () => {
    await proxy.stop();
    const single = await env.startProxy({ writer: 'single' });
    await waitAllUp(env, single);
    const r = await scenarioSingleWriter(env, single);
    results.push(r);
    expect(r.facts['distinct writers before']).toBe(1);
    expect(r.facts['distinct writers after']).toBe(1);
    expect(r.facts['failed after writes moved'], r.firstFailures.join('\n')).toBe(0);
  });
});
