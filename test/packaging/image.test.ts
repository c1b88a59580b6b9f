import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, createContainer, inspectImage, type Container, type ImageBuild } from './container.js';

// The sidecar image as CI builds it: base image from debootstrap, standalone binary, `buildah bud`.
// The first run on a machine pays for debootstrap; later runs reuse the base image and the layers.

let build: ImageBuild;
let container: Container;

beforeAll(async () => {
  build = await buildImage();
  // The script's own figures (base, binary, image, size) go to the test log for the CI record.
  for (const line of build.stdout.split('\n').filter((l) => l.startsWith('build-image:') || l.startsWith('build-binary:'))) {
    console.log(line);
  }
  console.log(`packaging: .ci/build-image took ${build.seconds.toFixed(1)} s`);
  container = await createContainer();
});

afterAll(async () => {
  await container?.remove();
});

describe('sidecar image', () => {
  it('builds well within the CI budget', () => {
    // A cold build (debootstrap included) takes about a minute on 2 cores; 10 minutes is the ceiling.
    expect(build.seconds).toBeLessThan(600);
    expect(build.stdout).toMatch(/build-image: galera-haproxy:dev is /);
  });

  it('has HAProxy', async () => {
    const r = await container.run(['haproxy', '-v']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HAProxy version 2\.\d+/m);
  });

  it('runs galera-haproxy --help from /usr/local/bin', async () => {
    const r = await container.run(['galera-haproxy', '--help']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: galera-haproxy/m);
    for (const command of ['render', 'once', 'watch', 'register', 'clustercheck']) expect(r.stdout).toContain(command);
    expect(r.stderr).toBe('');
  });

  it('has no Node.js: the binary is all it needs', async () => {
    const r = await container.run(['sh', '-c', 'command -v node nodejs; ls -d /usr/lib/node_modules /usr/local/lib/node_modules 2>/dev/null; true']);
    expect(r.stdout.trim()).toBe('');
  });

  it('runs as the haproxy user, which can rewrite the config and use the socket directories', async () => {
    const r = await container.run([
      'sh',
      '-c',
      'id -un && touch /etc/haproxy/.probe /run/haproxy/.probe /var/lib/haproxy/.probe && rm /etc/haproxy/.probe /run/haproxy/.probe /var/lib/haproxy/.probe',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('haproxy');
  });

  it('declares the entrypoint, the port and a health check on the master socket', async () => {
    const config = await inspectImage();
    expect(config.entrypoint).toEqual(['/usr/local/bin/galera-haproxy-entrypoint']);
    expect(config.user).toBe('haproxy');
    expect(config.exposedPorts).toContain('3306/tcp');
    expect(config.healthcheck?.join(' ')).toContain('/run/haproxy/master.sock');
    const socat = await container.run(['sh', '-c', 'command -v socat']);
    expect(socat.exitCode).toBe(0);
  });
});
