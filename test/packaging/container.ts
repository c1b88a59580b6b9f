import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

// Helpers for the packaging tests: build the image with the CI script, and run commands in a working
// container of it with `buildah run --isolation chroot`. Chroot isolation shares the host's network,
// so a process in the container reaches an etcd on the host's loopback.

export const ROOT = join(import.meta.dirname, '..', '..');
export const IMAGE = 'galera-haproxy:dev';
const INSTALL_HINT = 'install them with: apt-get install -y buildah podman debootstrap (and run the tests as root)';

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Fails the calling test with an install hint, never skips it. */
export async function requireBuildTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['buildah', 'podman', 'debootstrap']) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false, env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
    if (found.exitCode !== 0) missing.push(tool);
  }
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not found: ${INSTALL_HINT}`);
  if (process.getuid?.() !== 0) throw new Error(`the packaging tests need root: ${INSTALL_HINT}`);
}

export interface ImageBuild extends RunResult {
  readonly seconds: number;
}

/** Runs `.ci/build-image` (idempotent: the base image and layers are reused) and times it. */
export async function buildImage(): Promise<ImageBuild> {
  await requireBuildTools();
  const started = Date.now();
  const result = await execa('bash', [join(ROOT, '.ci', 'build-image')], { cwd: ROOT, reject: false, all: false, env: { IMAGE } });
  const seconds = (Date.now() - started) / 1000;
  if (result.exitCode !== 0) {
    throw new Error(`.ci/build-image failed (exit ${result.exitCode}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`);
  }
  return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr, seconds };
}

export interface Container {
  readonly name: string;
  /** Where the container's root file system is mounted on the host. */
  mountPoint(): Promise<string>;
  /** Runs argv in the container; `volumes` are `host:container[:ro]` bind mounts. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts argv in the container and returns the `buildah run` process, for daemons. */
  start(argv: readonly string[], options?: RunOptions): ChildProcess;
  remove(): Promise<void>;
}

export interface RunOptions {
  readonly volumes?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface ContainerOptions {
  /**
   * Open-file limit inside the container. `buildah run` imposes 1024, and HAProxy running as a user
   * other than root cannot raise it to what `maxconn` needs (docker, podman and Kubernetes give
   * containers far more by default). Set through a private containers.conf.
   * @default buildah's 1024
   */
  readonly openFiles?: number;
}

/** A working container of `image`; every `run` sees the same root file system. */
export async function createContainer(image = IMAGE, options: ContainerOptions = {}): Promise<Container> {
  const from = await execa('buildah', ['from', '--pull-never', image], { reject: false });
  if (from.exitCode !== 0) throw new Error(`buildah from ${image} failed: ${from.stderr}`);
  const name = from.stdout.trim().split('\n').pop() ?? '';
  let env: NodeJS.ProcessEnv = process.env;
  let confDir: string | undefined;
  if (options.openFiles !== undefined) {
    confDir = await mkdtemp(join(tmpdir(), 'galera-haproxy-containers-conf-'));
    const conf = join(confDir, 'containers.conf');
    await writeFile(conf, `[containers]\ndefault_ulimits = ["nofile=${options.openFiles}:${options.openFiles}"]\n`);
    env = { ...process.env, CONTAINERS_CONF: conf };
  }
  const runArgs = (argv: readonly string[], options: RunOptions): string[] => [
    'run',
    '--isolation',
    'chroot',
    ...(options.volumes ?? []).flatMap((v) => ['-v', v]),
    ...Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    name,
    '--',
    ...argv,
  ];
  return {
    name,
    async run(argv, options = {}) {
      const r = await execa('buildah', runArgs(argv, options), { reject: false, timeout: options.timeoutMs ?? 60_000, env, extendEnv: false, stripFinalNewline: false });
      return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
    },
    start(argv, options = {}) {
      return spawn('buildah', runArgs(argv, options), { stdio: ['ignore', 'pipe', 'pipe'], env });
    },
    async mountPoint() {
      return (await execa('buildah', ['mount', name])).stdout.trim();
    },
    async remove() {
      await execa('buildah', ['rm', name], { reject: false });
      if (confDir !== undefined) await rm(confDir, { recursive: true, force: true });
    },
  };
}

export interface ImageConfig {
  readonly entrypoint: string[];
  readonly user: string;
  readonly exposedPorts: string[];
  /** The HEALTHCHECK test, e.g. `['CMD-SHELL', '...']`; absent when the image has none. */
  readonly healthcheck?: string[];
}

/** The parts of the image configuration the sidecar layout depends on. */
export async function inspectImage(image = IMAGE): Promise<ImageConfig> {
  const r = await execa('buildah', ['inspect', '--type', 'image', image]);
  const info = JSON.parse(r.stdout) as {
    Docker?: { config?: { Entrypoint?: string[]; User?: string; ExposedPorts?: Record<string, unknown>; Healthcheck?: { Test?: string[] } } };
    OCIv1?: { config?: { Entrypoint?: string[]; User?: string; ExposedPorts?: Record<string, unknown> } };
  };
  const docker = info.Docker?.config ?? {};
  const oci = info.OCIv1?.config ?? {};
  return {
    entrypoint: docker.Entrypoint ?? oci.Entrypoint ?? [],
    user: docker.User ?? oci.User ?? '',
    exposedPorts: Object.keys(docker.ExposedPorts ?? oci.ExposedPorts ?? {}),
    ...(docker.Healthcheck?.Test ? { healthcheck: docker.Healthcheck.Test } : {}),
  };
}
