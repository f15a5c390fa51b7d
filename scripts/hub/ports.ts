/** Port checks for the launcher: a taken port is reported by name before anything starts. */
import { createServer } from 'node:net';

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly owner: string,
    readonly host: string,
  ) {
    super(
      `port ${port} (${owner}) is already in use on ${host}; stop what is using it or choose another port (see the README configuration table)`,
    );
    this.name = 'PortInUseError';
  }
}

/** Resolves when `port` can be bound on `host`; rejects with PortInUseError otherwise. */
export function assertPortFree(port: number, owner: string, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') reject(new PortInUseError(port, owner, host));
      else reject(err);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * A currently free port chosen by the OS. The child binds it moments later; the tiny window in between is
 * acceptable for tests and benchmarks (the alternative, parsing the child's log for its port, couples the
 * launcher to every service's log format).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}
