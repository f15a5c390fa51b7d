/**
 * Helpers for tests against the real schema registry the global setup starts (Apicurio Registry, Confluent API).
 * It is shared by the whole run: each test registers under its own subjects (a unique ingest topic or prefix).
 */
import { createServer, Socket } from 'node:net';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { confluentProtobufValue } from '../../pipeline/event-processor/protobuf-message-index';
import { createSchemaRegistry } from '../../pipeline/event-processor/schema-decoder.confluent';

export { confluentProtobufValue };

/** The registry's Confluent API (SCHEMA_REGISTRY_URL for the hub). */
export function testRegistryUrl(): string {
  const url = process.env.TEST_SCHEMA_REGISTRY_URL;
  if (!url)
    throw new Error('TEST_SCHEMA_REGISTRY_URL is not set: run integration tests through jest (global setup starts it)');
  return url;
}

/** A client of the test registry: registers schemas and encodes records as producers do. */
export function testRegistry(url = testRegistryUrl()): SchemaRegistry {
  return createSchemaRegistry({ url });
}

export interface RegistryProxy {
  /** The registry's URL through the proxy (same path). */
  url: string;
  /** Connections refused while down: proof that the hub kept trying. */
  readonly refused: number;
  /** The registry becomes unreachable: open connections are cut, new ones closed at once. */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of the real registry, to take it away and bring it back without losing its schemas (its
 * storage is in memory) and without disturbing the other test files that share it.
 */
export async function startRegistryProxy(target = testRegistryUrl()): Promise<RegistryProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let isDown = false;
  let refused = 0;
  const server = createServer((client) => {
    if (isDown) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(Number(t.port), t.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}${t.pathname}`,
    get refused() {
      return refused;
    },
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
