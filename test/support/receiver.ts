/** A real HTTP subscriber on an ephemeral port that records what it receives and answers as told. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type Responder = (req: Received, res: ServerResponse) => unknown;

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  connections: number;
  respond(fn: Responder): void;
  close(): Promise<void>;
}

export async function startReceiver(
  responder: Responder = (_r, res) => res.writeHead(204).end(),
  host = '127.0.0.1',
): Promise<Receiver> {
  let current = responder;
  const received: Received[] = [];
  const state = { connections: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        at: Date.now(),
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(r);
      void current(r, res);
    });
  });
  server.on('connection', () => {
    state.connections++;
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    received,
    get connections() {
      return state.connections;
    },
    respond(fn) {
      current = fn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
