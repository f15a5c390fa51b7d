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
 * A currently free port for a service. The child binds it moments later. The OS's own ephemeral choice would be
 * from the range it also hands out as source ports of outgoing connections (Linux 32768-60999): on a busy machine
 * one of those connections can take the port in that window and the child fails with EADDRINUSE (seen in CI). So
 * the port is picked at random below that range and checked free; the OS's choice is the fallback.
 */
export async function freePort(host = '127.0.0.1', exclude: ReadonlySet<number> = new Set()): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // Chosen already for another child that has not bound it yet: free now, taken moments from now.
    if (exclude.has(port)) continue;
    try {
      await assertPortFree(port, 'probe', host);
      return port;
    } catch {
      // taken: try another
    }
  }
  for (;;) {
    const port = await osPort(host);
    if (!exclude.has(port)) return port;
  }
}

/**
 * Free ports for several children started together: each pick is free when checked and differs from the picks
 * before it (none is bound until its child starts, so two independent picks can otherwise coincide: seen once, a
 * service's gRPC port chosen for a second service too, which then failed with EADDRINUSE).
 */
export function portPicker(host = '127.0.0.1'): { pick(): Promise<number>; reserve(port: number): void } {
  const chosen = new Set<number>();
  return {
    async pick() {
      const port = await freePort(host, chosen);
      chosen.add(port);
      return port;
    },
    reserve(port) {
      chosen.add(port);
    },
  };
}

function osPort(host: string): Promise<number> {
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
