import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

/**
 * A real web server for the web tier: one nginx (Debian's) per node on a loopback alias, each in its
 * own directory (config, pid, logs, temp files), in the foreground as a single process so that a
 * signal reaches the process that holds the sockets: SIGKILL is a crash, SIGQUIT a graceful stop.
 */
export interface WebNode {
  readonly ip: string;
  readonly port: number;
  /** What `GET /` answers (200), naming the node: `web 127.0.0.172:80\n`. */
  readonly body: string;
  /** True while the nginx process runs. */
  running(): boolean;
  /** Graceful stop (SIGQUIT: open requests finish), SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** A crash: SIGKILL, open connections are reset by the kernel. */
  fail(): Promise<void>;
  /** Starts again on the same address (after stop or fail) and waits until it answers. */
  restart(): Promise<void>;
  /** stderr of every run so far and the error log's path, for failure messages. */
  output(): string;
}

export interface WebNodeOptions {
  ip: string;
  /** @default 80 */
  port?: number;
  /** A directory of its own (created); nothing is written outside it. */
  dir: string;
  /** @default 10000 */
  startTimeoutMs?: number;
}

const INSTALL_HINT = 'nginx is required for this test: apt-get install nginx-light (bash .ci/setup installs it)';

/** The nginx binary (PATH, then /usr/sbin), or an error telling how to install it. */
export function resolveNginxBin(): string {
  for (const bin of ['nginx', '/usr/sbin/nginx']) {
    const probe = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (probe.error === undefined && probe.status === 0) return bin;
  }
  throw new Error(INSTALL_HINT);
}

export function webBodyFor(ip: string, port: number): string {
  return `web ${ip}:${port}\n`;
}

/** Every nginx this process started and has not seen exit: killed if the test runner exits first. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function nginxConfig(dir: string, ip: string, port: number, body: string): string {
  const tmp = (name: string): string => join(dir, 'tmp', name);
  // `return` answers from memory: no document root, nothing for a worker to read. HEAD gets the
  // same status and headers without the body.
  return `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path ${tmp('body')};
    proxy_temp_path ${tmp('proxy')};
    fastcgi_temp_path ${tmp('fastcgi')};
    uwsgi_temp_path ${tmp('uwsgi')};
    scgi_temp_path ${tmp('scgi')};
    server {
        listen ${ip}:${port};
        location / {
            default_type text/plain;
            return 200 ${JSON.stringify(body)};
        }
    }
}
`;
}

/** One plain HTTP GET; resolves with the status, or rejects on a connection error or after 1 s. */
function probe(ip: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path: '/', method: 'GET', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts nginx on `ip:port` and resolves once it answers `GET /` with 200. */
export async function startWebNode(options: WebNodeOptions): Promise<WebNode> {
  const bin = resolveNginxBin();
  const { ip, dir } = options;
  const port = options.port ?? 80;
  const body = webBodyFor(ip, port);
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const configPath = join(dir, 'nginx.conf');
  await writeFile(configPath, nginxConfig(dir, ip, port, body));
  let child: ChildProcess | null = null;
  let stderr = '';

  const start = async (): Promise<void> => {
    // -e: the error log before the config is read (the compiled-in path is /var/log/nginx).
    const proc = spawn(bin, ['-p', dir, '-c', configPath, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const spawned = new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (err) => reject(new Error(`${INSTALL_HINT} (${err.message})`, { cause: err })));
    });
    track(proc);
    child = proc;
    proc.once('exit', () => {
      if (child === proc) child = null;
    });
    await spawned;
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    let last = 'no answer yet';
    for (;;) {
      if (child !== proc) throw new Error(`nginx on ${ip}:${port} exited during start (code ${String(proc.exitCode)}): ${stderr.trim()} (see ${join(dir, 'error.log')})`);
      try {
        const status = await probe(ip, port);
        if (status === 200) return;
        last = `status ${status}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`nginx on ${ip}:${port} did not answer GET / with 200 within ${options.startTimeoutMs ?? 10_000} ms (${last}): ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc === null) return;
    proc.kill(signal);
    if (!(await waitForExit(proc, 5000))) {
      proc.kill('SIGKILL');
      await waitForExit(proc, 5000);
    }
  };

  await start();
  return {
    ip,
    port,
    body,
    running: () => child !== null,
    stop: () => signalAndWait('SIGQUIT'),
    fail: () => signalAndWait('SIGKILL'),
    restart: async () => {
      await signalAndWait('SIGQUIT');
      await start();
    },
    output: () => `${stderr.trim()} (error log ${join(dir, 'error.log')})`,
  };
}
