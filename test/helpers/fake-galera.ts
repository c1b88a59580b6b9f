import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';

/** A stand-in for one Galera node: a TCP "MySQL" port that names itself, and a clustercheck port. */
export interface FakeGaleraNode {
  readonly ip: string;
  readonly port: number;
  readonly checkPort: number;
  /** The line each client connection receives first, e.g. `fake-galera 127.0.0.21:3306\n`. */
  readonly greeting: string;
  /** 200 "synced" when true, 503 when false, like Percona's clustercheck. */
  setHealthy(healthy: boolean): void;
  /** The `wsrep_local_recv_queue` its clustercheck JSON reports while healthy (default 0). */
  setRecvQueue(queue: number): void;
  /** Client connections accepted on the TCP port since start (health checks are not counted). */
  connections(): number;
  /** Connections open right now on the TCP port. */
  openConnections(): number;
  /** Health check requests answered since start. */
  checks(): number;
  close(): Promise<void>;
}

export interface FakeGaleraOptions {
  ip: string;
  /** @default 3306 */
  port?: number;
  /** @default 9200 */
  checkPort?: number;
  /** @default true */
  healthy?: boolean;
  /** Keep client connections open after the greeting (to test draining); otherwise close at once. */
  holdConnections?: boolean;
}

export function greetingFor(ip: string, port: number): string {
  return `fake-galera ${ip}:${port}\n`;
}

function listen(server: TcpServer | HttpServer, ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`fake galera node cannot listen on ${ip}:${port}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host: ip, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: TcpServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

export async function startFakeGaleraNode(options: FakeGaleraOptions): Promise<FakeGaleraNode> {
  const { ip } = options;
  const port = options.port ?? 3306;
  const checkPort = options.checkPort ?? 9200;
  const greeting = greetingFor(ip, port);
  let healthy = options.healthy ?? true;
  let accepted = 0;
  let checkCount = 0;
  let recvQueue = 0;
  const open = new Set<Socket>();

  const tcp = createTcpServer((socket) => {
    accepted += 1;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    // A reset from a client that gave up must not crash the test process.
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    if (options.holdConnections === true) {
      socket.write(greeting);
    } else {
      socket.end(greeting);
    }
  });

  const http = createHttpServer((req, res) => {
    checkCount += 1;
    req.resume();
    // Like `galera-haproxy clustercheck`: JSON with the state and the reason when asked for it.
    const json = (req.headers.accept ?? '').includes('application/json');
    const body = json
      ? `${JSON.stringify({ healthy, state: healthy ? 'Synced' : 'Donor/Desynced', wsrep_local_state: healthy ? 4 : 2, wsrep_local_recv_queue: healthy ? recvQueue : 7, reason: healthy ? 'synced' : 'node is a donor (simulated)' })}\n`
      : healthy
        ? 'Galera cluster node is synced.\r\n'
        : 'Galera cluster node is not synced.\r\n';
    res.writeHead(healthy ? 200 : 503, {
      'Content-Type': json ? 'application/json' : 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    });
    res.end(body);
  });
  http.on('clientError', (_err, socket) => socket.destroy());

  await listen(tcp, ip, port);
  try {
    await listen(http, ip, checkPort);
  } catch (err) {
    await closeServer(tcp);
    throw err;
  }

  return {
    ip,
    port,
    checkPort,
    greeting,
    setHealthy: (value) => {
      healthy = value;
    },
    setRecvQueue: (value) => {
      recvQueue = value;
    },
    connections: () => accepted,
    openConnections: () => open.size,
    checks: () => checkCount,
    close: async () => {
      for (const socket of open) socket.destroy();
      http.closeAllConnections();
      await Promise.all([closeServer(tcp), closeServer(http)]);
    },
  };
}
