import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import { freePorts, tempDir, type TempDir } from './ports.js';

const INSTALL_HINT = 'etcd binary not found on PATH: install etcd-server (apt-get install etcd-server etcd-client)';

export interface EtcdTlsOptions {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Require clients to present a certificate signed by the CA. @default false */
  readonly clientCertAuth?: boolean;
}

export interface EtcdStartOptions {
  /** Loopback address to bind. @default '127.0.0.1' */
  readonly host?: string;
  /** Member name. @default 'etcd0' */
  readonly name?: string;
  /** Data directory; a fresh temp dir when absent (removed by `stop({ removeData: true })`). */
  readonly dataDir?: string;
  readonly tls?: EtcdTlsOptions;
  /** Create `root` with this password and enable auth once the server is healthy. */
  readonly auth?: { readonly rootPassword: string };
  /** Extra etcd flags, e.g. `--experimental-watch-progress-notify-interval=500ms`. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the member to report healthy. @default 20000 */
  readonly healthTimeoutMs?: number;
}

export interface EtcdServer {
  readonly name: string;
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Process id of the running etcd, or null while stopped. */
  readonly pid: number | null;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. Data is kept. */
  stop(): Promise<void>;
  /** Sends a signal; resolves after the process exits when the signal is fatal. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again on the same ports and data dir and waits until it answers. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the process and deletes the temp dirs this helper created. */
  destroy(): Promise<void>;
  /** A client for this member with the root credentials and CA when set. Closed by `destroy()`. */
  client(): Etcd3;
}

export interface EtcdCluster {
  readonly endpoints: string[];
  readonly members: EtcdServer[];
  /** The member the others follow; waits briefly for an election when there is none. */
  leader(timeoutMs?: number): Promise<EtcdServer>;
  stopAll(): Promise<void>;
  startAll(): Promise<void>;
  destroy(): Promise<void>;
  /** A client over every member's endpoint. */
  client(): Etcd3;
}

interface MemberPlan {
  readonly name: string;
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

async function findOnPath(binary: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Fails the calling test with an install hint, never skips it. */
export async function requireEtcdBinary(): Promise<string> {
  const bin = await findOnPath('etcd');
  if (bin === null) throw new Error(INSTALL_HINT);
  return bin;
}

/** Every etcd this process started and has not seen exit: killed if the test runner exits first. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A test client that reconnects fast; etcd3's defaults would wait seconds after a restart. */
export function testClient(endpoints: string[], extra: Partial<IOptions> = {}): Etcd3 {
  return new Etcd3({ hosts: endpoints, dialTimeout: 2000, ...extra });
}

function credentialsFor(tls: EtcdTlsOptions | undefined): IOptions['credentials'] {
  if (tls === undefined) return undefined;
  return {
    rootCertificate: readFileSync(tls.caFile),
    ...(tls.clientCertAuth === true
      ? { privateKey: readFileSync(tls.keyFile), certChain: readFileSync(tls.certFile) }
      : {}),
  };
}

class EtcdProcess implements EtcdServer {
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly logFile: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private clients: Etcd3[] = [];

  constructor(
    private readonly bin: string,
    private readonly plan: MemberPlan,
    readonly dataDir: string,
    private readonly initialCluster: string,
    private readonly clusterToken: string,
    private readonly options: EtcdStartOptions,
    private readonly owned: TempDir | null,
  ) {
    const scheme = options.tls === undefined ? 'http' : 'https';
    this.endpoint = `${scheme}://${plan.host}:${plan.clientPort}`;
    this.peerUrl = `http://${plan.host}:${plan.peerPort}`;
    this.logFile = `${dataDir}.log`;
  }

  get name(): string {
    return this.plan.name;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== null;
  }

  private args(): string[] {
    const tls = this.options.tls;
    return [
      `--name=${this.plan.name}`,
      `--data-dir=${join(this.dataDir, 'data')}`,
      `--listen-client-urls=${this.endpoint}`,
      `--advertise-client-urls=${this.endpoint}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${this.initialCluster}`,
      `--initial-cluster-token=${this.clusterToken}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
      ...(tls === undefined
        ? []
        : [
            `--cert-file=${tls.certFile}`,
            `--key-file=${tls.keyFile}`,
            `--trusted-ca-file=${tls.caFile}`,
            ...(tls.clientCertAuth === true ? ['--client-cert-auth'] : []),
          ]),
      ...(this.options.extraArgs ?? []),
    ];
  }

  /** Spawns without waiting for health (a cluster member cannot be healthy alone). */
  async spawnProcess(): Promise<void> {
    if (this.child !== null) return;
    await mkdir(this.dataDir, { recursive: true });
    const log = await open(this.logFile, 'a');
    const child = spawn(this.bin, this.args(), { stdio: ['ignore', log.fd, log.fd] });
    // Listen before any await: 'spawn' fires on the next tick.
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`${INSTALL_HINT} (${err.message})`, { cause: err })));
    });
    this.child = child;
    trackChild(child);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    try {
      await spawned;
    } finally {
      await log.close();
    }
  }

  /** Waits until this member answers a status call and knows a leader. */
  async waitHealthy(timeoutMs = this.options.healthTimeoutMs ?? 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no answer yet';
    // No circuit breaker: etcd3's default would stop probing for 5 s after three refused connections.
    const probe = new Etcd3({
      hosts: [this.endpoint],
      dialTimeout: 1000,
      faultHandling: { host: () => noop, global: noop },
      credentials: credentialsFor(this.options.tls),
      defaultCallOptions: () => ({ deadline: Date.now() + 1000 }),
    });
    try {
      while (Date.now() < deadline) {
        if (this.child === null) throw new Error(`etcd ${this.plan.name} exited during start; see ${this.logFile}`);
        try {
          const status = await probe.maintenance.status();
          if (status.leader !== '0') return;
          lastError = 'no leader';
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
        }
        await sleep(100);
      }
    } finally {
      probe.close();
    }
    throw new Error(`etcd ${this.plan.name} not healthy within ${timeoutMs} ms (${lastError}); see ${this.logFile}`);
  }

  async start(): Promise<void> {
    await this.spawnProcess();
    await this.waitHealthy();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await this.exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  client(): Etcd3 {
    const auth = this.options.auth;
    const client = testClient([this.endpoint], {
      credentials: credentialsFor(this.options.tls),
      ...(auth === undefined ? {} : { auth: { username: 'root', password: auth.rootPassword } }),
    });
    this.clients.push(client);
    return client;
  }

  async destroy(): Promise<void> {
    for (const client of this.clients) client.close();
    this.clients = [];
    await this.stop();
    await this.owned?.remove();
  }
}

async function enableAuth(server: EtcdProcess, rootPassword: string, tls: EtcdTlsOptions | undefined): Promise<void> {
  const client = testClient([server.endpoint], { credentials: credentialsFor(tls) });
  try {
    await client.user('root').create(rootPassword);
    await client.user('root').addRole('root');
    await client.auth.authEnable();
  } finally {
    client.close();
  }
}

/** One etcd member on loopback with random free ports in a temp dir, healthy when this resolves. */
export async function startEtcd(options: EtcdStartOptions = {}): Promise<EtcdServer> {
  const bin = await requireEtcdBinary();
  const host = options.host ?? '127.0.0.1';
  const name = options.name ?? 'etcd0';
  const owned = options.dataDir === undefined ? await tempDir('etcd') : null;
  const dataDir = options.dataDir ?? join(owned?.path ?? '', name);
  const [clientPort, peerPort] = (await freePorts(2, host)) as [number, number];
  const plan = { name, host, clientPort, peerPort };
  const server = new EtcdProcess(
    bin,
    plan,
    owned === null ? dataDir : join(owned.path, name),
    `${name}=http://${host}:${peerPort}`,
    `tok-${process.pid}-${clientPort}`,
    options,
    owned,
  );
  try {
    await server.start();
    if (options.auth !== undefined) await enableAuth(server, options.auth.rootPassword, options.tls);
  } catch (err) {
    await server.destroy();
    throw err;
  }
  return server;
}

/** `size` members on 127.0.0.1 with distinct random ports; resolves when every member knows the leader. */
export async function startEtcdCluster(size = 3, options: Omit<EtcdStartOptions, 'name' | 'dataDir' | 'auth'> = {}): Promise<EtcdCluster> {
  const bin = await requireEtcdBinary();
  const host = options.host ?? '127.0.0.1';
  const dir = await tempDir('etcd-cluster');
  const ports = await freePorts(size * 2, host);
  const plans: MemberPlan[] = Array.from({ length: size }, (_, i) => ({
    name: `m${i}`,
    host,
    clientPort: ports[i * 2] as number,
    peerPort: ports[i * 2 + 1] as number,
  }));
  const initialCluster = plans.map((p) => `${p.name}=http://${p.host}:${p.peerPort}`).join(',');
  const token = `cluster-${process.pid}-${ports[0]}`;
  const members = plans.map(
    (plan) => new EtcdProcess(bin, plan, join(dir.path, plan.name), initialCluster, token, options, null),
  );
  const clients: Etcd3[] = [];
  const startAll = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.spawnProcess()));
    await Promise.all(members.map((m) => m.waitHealthy()));
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.stop()));
  };
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.endpoint),
    members,
    async leader(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const member of members.filter((m) => m.running)) {
          const probe = testClient([member.endpoint], {
            faultHandling: { host: () => noop, global: noop },
            credentials: credentialsFor(options.tls),
            defaultCallOptions: () => ({ deadline: Date.now() + 1000 }),
          });
          try {
            const status = await probe.maintenance.status();
            if (status.leader !== '0' && status.leader === status.header.member_id) return member;
          } catch {
            // not answering: try the next member
          } finally {
            probe.close();
          }
        }
        await sleep(100);
      }
      throw new Error(`no etcd leader within ${timeoutMs} ms`);
    },
    stopAll,
    startAll,
    async destroy() {
      for (const client of clients) client.close();
      await Promise.all(members.map((m) => m.destroy()));
      await dir.remove();
    },
    client() {
      const client = testClient(cluster.endpoints, { credentials: credentialsFor(options.tls) });
      clients.push(client);
      return client;
    },
  };
  try {
    await startAll();
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}

/** Writes a key; returns the revision of the write. */
export async function put(client: Etcd3, key: string, value: string, leaseId?: string): Promise<string> {
  const builder = client.put(key).value(value);
  const res = await (leaseId === undefined ? builder : builder.lease(leaseId)).exec();
  return res.header.revision;
}

/** Deletes a key (or every key under it with `prefix: true`); returns the revision. */
export async function del(client: Etcd3, key: string, options: { prefix?: boolean } = {}): Promise<string> {
  const builder = client.delete();
  const res = await (options.prefix === true ? builder.prefix(key) : builder.key(key)).exec();
  return res.header.revision;
}

/** The store's current revision (of the whole keyspace, not one prefix). */
export async function currentRevision(client: Etcd3): Promise<string> {
  const res = await client.get('\0').exec();
  return res.header.revision;
}

/** Compacts history up to the current revision (or `revision`), physically, so old watches fail. */
export async function compact(client: Etcd3, revision?: string): Promise<string> {
  const target = revision ?? (await currentRevision(client));
  await client.kv.compact({ revision: target, physical: true });
  return target;
}

/** Every key/value under a prefix, as a plain object (sorted keys). */
export async function readPrefix(client: Etcd3, prefix: string): Promise<Record<string, string>> {
  const all = await client.getAll().prefix(prefix).strings();
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
}
