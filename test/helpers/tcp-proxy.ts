import { createConnection, createServer, type Socket } from 'node:net';
import { freePort } from './ports.js';

export interface TcpProxy {
  /** Where clients connect, e.g. `127.0.0.1:40123`. */
  readonly address: string;
  readonly port: number;
  /** Destroys every open connection and refuses (resets) new ones until `heal()`. */
  cut(): void;
  heal(): void;
  readonly isCut: boolean;
  /** Connections accepted so far (to prove traffic went through the proxy). */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy to `targetHost:targetPort`. Cutting it is how tests simulate a network fault
 * between one client and etcd without touching the server itself.
 */
export async function startTcpProxy(targetHost: string, targetPort: number, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  let accepted = 0;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset peer is the expected outcome of a cut, not a test failure.
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    accepted += 1;
    const upstream = createConnection({ host: targetHost, port: targetPort });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  const port = await freePort(listenHost);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listenHost, port }, () => resolve());
  });
  const destroyAll = (): void => {
    for (const socket of sockets) socket.resetAndDestroy();
    sockets.clear();
  };
  return {
    address: `${listenHost}:${port}`,
    port,
    cut() {
      cut = true;
      destroyAll();
    },
    heal() {
      cut = false;
    },
    get isCut() {
      return cut;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      cut = true;
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `http://127.0.0.1:PORT` → `{ host, port }`. */
export function parseEndpoint(endpoint: string): { host: string; port: number; scheme: string } {
  const url = new URL(endpoint);
  return { host: url.hostname, port: Number(url.port), scheme: url.protocol.replace(':', '') };
}
