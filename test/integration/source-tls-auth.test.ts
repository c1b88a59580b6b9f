import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Etcd3 } from 'etcd3';
import { createEtcdSource, type EtcdClusterSource } from '../../src/source/etcd-source.js';
import { resolveEtcdOptions } from '../../src/source/etcd-options.js';
import { createEtcdClient } from '../../src/source/etcd-writer.js';
import { SourceError } from '../../src/errors.js';
import { put, startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { tempDir, type TempDir } from '../helpers/ports.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';
import { Recorder, waitConverged } from '../faults/source-harness.js';

const PREFIX = '/secure/galera';
const PASSWORD = 'pw-do-not-log-7f3a';
let dir: TempDir;
let pki: TestPki;
let etcd: EtcdServer;
let root: Etcd3;
const sources: EtcdClusterSource[] = [];
const logLines: string[] = [];

const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

beforeAll(async () => {
  dir = await tempDir('etcd-tls');
  pki = await createTestPki(dir.path);
  etcd = await startEtcd({
    tls: { caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, clientCertAuth: true },
    auth: { rootPassword: 'root-pw' },
  });
  root = etcd.client();
  // A user that may read the prefix and nothing else, as an operator would set it up.
  await root.role('galera-reader').create();
  await root.role('galera-reader').grant({ permission: 'Read', range: root.range({ prefix: `${PREFIX}/` }) });
  await root.user('haproxy').create(PASSWORD);
  await root.user('haproxy').addRole('galera-reader');
  await put(root, `${PREFIX}/n1`, '10.0.0.1');
  await put(root, '/elsewhere/secret', 'x');
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await etcd?.destroy();
  await dir?.remove();
});

function optionsFor(user: string, password: string) {
  return resolveEtcdOptions(
    { etcdEndpoints: etcd.endpoint, prefix: PREFIX, etcdCacert: pki.caFile, etcdCert: pki.clientCertFile, etcdKey: pki.clientKeyFile, etcdUser: user },
    { GALERA_HAPROXY_ETCD_PASSWORD: password },
    (path) => readFileSync(path),
  );
}

describe('etcd source over TLS with user/password auth', () => {
  it('mirrors the prefix with a least-privilege user and never logs the password', async () => {
    expect(etcd.endpoint).toMatch(/^https:/);
    const recorder = new Recorder();
    const s = createEtcdSource({ ...optionsFor('haproxy', PASSWORD), heartbeatIntervalMs: 200 }, logger);
    sources.push(s);
    await s.start(recorder);
    expect(recorder.latest()).toEqual({ [`${PREFIX}/n1`]: '10.0.0.1' });
    await put(root, `${PREFIX}/n2`, '10.0.0.2');
    await waitConverged(recorder, root, PREFIX, 10_000);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('')).not.toContain(PASSWORD);
  });

  it('recovers after etcd restarts and forgets every auth token', async () => {
    const recorder = new Recorder();
    const s = createEtcdSource({ ...optionsFor('haproxy', PASSWORD), heartbeatIntervalMs: 200, backoff: { initialMs: 50, maxMs: 500 } }, logger);
    sources.push(s);
    await s.start(recorder);
    await etcd.restart();
    await put(root, `${PREFIX}/after-restart`, '10.0.0.3');
    await waitConverged(recorder, root, PREFIX, 20_000);
    expect(s.stats().resnapshots).toBe(0);
  });

  it('a wrong password is an ETCD_AUTH error that says so', async () => {
    const s = createEtcdSource(optionsFor('haproxy', 'wrong'), logger);
    sources.push(s);
    const err = await s.readOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).code).toBe('ETCD_AUTH');
    expect((err as SourceError).retryable).toBe(false);
    expect(logLines.join('')).not.toContain('wrong"');
  });

  it('the user cannot read outside its prefix (the role is what limits it)', async () => {
    const client = createEtcdClient(optionsFor('haproxy', PASSWORD));
    try {
      await expect(client.get('/elsewhere/secret').string()).rejects.toThrow(/permission denied/i);
    } finally {
      client.close();
    }
  });

  it('a client without the CA cannot connect', async () => {
    const options = optionsFor('haproxy', PASSWORD);
    const s = createEtcdSource({ ...options, tls: { ca: readFileSync(pki.serverCertFile) }, requestTimeoutMs: 2000 }, logger);
    sources.push(s);
    await expect(s.readOnce()).rejects.toBeInstanceOf(SourceError);
  });
});
