/**
 * A subscription-api wired exactly as main.ts wires it, on a fresh Postgres database and a uniquely named
 * changelog topic on the real broker, with captured logs (checked for secrets) and, optionally, a running
 * SubscriptionDirectory reading the topic.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createApiKeyVerifier } from '../../pipeline/shared/auth/api-key-auth';
import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import { ensureOperatorKey } from '../../pipeline/shared/auth/bootstrap';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import type { GrpcServer } from '../../pipeline/shared/grpc/server.grpc';
import type { HubApp } from '../../pipeline/shared/http/create-app';
import { createLogger, type Logger } from '../../pipeline/shared/logging/logger';
import type { EndpointPolicy } from '../../pipeline/shared/net/ssrf-policy';
import type { SubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import { topicNames } from '../../pipeline/shared/topics';
import { buildSubscriptionApi } from '../../subscription-api/app';
import {
  type ChangelogRelay,
  type ChangelogRelayOptions,
  startChangelogRelay,
} from '../../subscription-api/changelog-relay.kafka';
import { DeliveryStatusReaderPrisma } from '../../subscription-api/delivery-status.prisma';
import { EventTypeRepositoryPrisma } from '../../subscription-api/event-type-repository.prisma';
import { type SubscriptionApiGrpcOptions, startSubscriptionApiGrpc } from '../../subscription-api/grpc/server.grpc';
import { InboundSourceRepositoryPrisma } from '../../subscription-api/inbound-source-repository.prisma';
import { createInboundSourceService } from '../../subscription-api/inbound-sources';
import { createSubscriptionService } from '../../subscription-api/service';
import { SubscriptionRepositoryPrisma } from '../../subscription-api/subscription-repository.prisma';
import { createTestDatabase } from '../support/db';
import { waitFor } from '../support/kafka';

export const OPERATOR_KEY = `ihk_${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '').slice(0, 11)}`;

/** The event-processor's public base URL the harness's inbound sources report. */
export const INBOUND_BASE_URL = 'https://hooks.hub.example';

/** DNS stub for the SSRF policy: public-looking names resolve to public or internal addresses as listed. */
export const DNS: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'tokens.example.com': ['93.184.216.34'],
  'rebind.example.com': ['93.184.216.34', '127.0.0.3'],
  'internal.example.com': ['10.1.2.3'],
  'metadata.example.com': ['169.254.169.254'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'ula.example.com': ['fd12::1'],
};

export interface Harness {
  app: HubApp;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  pool: Pool;
  kafka: Kafka;
  topic: string;
  prefix: string;
  box: SecretBox;
  log: Logger;
  /** Every log line written so far (JSON). */
  logs: string[];
  producer: Producer;
  relay?: ChangelogRelay;
  directory?: SubscriptionDirectory;
  /** The gRPC server over the same service (opts.grpc). */
  grpc?: GrpcServer;
  /** Another gRPC server over the same service and keys (closed by `close`), e.g. with TLS or a low rate limit. */
  startGrpc(overrides?: Partial<SubscriptionApiGrpcOptions>): Promise<GrpcServer>;
  startRelay(overrides?: Partial<ChangelogRelayOptions>): Promise<ChangelogRelay>;
  as(key: string): Client;
  op: Client;
  tenantKey(tenantId: string): Promise<string>;
  close(): Promise<void>;
}

export interface Client {
  get(url: string): Promise<LightMyRequestResponse>;
  post(url: string, payload?: object): Promise<LightMyRequestResponse>;
  patch(url: string, payload: object): Promise<LightMyRequestResponse>;
  del(url: string): Promise<LightMyRequestResponse>;
}

export async function startHarness(
  opts: { relay?: boolean; directory?: boolean; bodyLimitBytes?: number; grpc?: boolean } = {},
) {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const log = createLogger({ service: 'subscription-api-test', level: 'debug', destination: sink });
  const db = await createTestDatabase();
  const pool = new Pool({ connectionString: db.url, max: 4, application_name: 'hub-test-relay' });
  pool.on('error', () => {});
  const prefix = `sapi-${randomUUID().slice(0, 8)}`;
  const topic = topicNames(prefix).subscriptions;
  const kafka = new Kafka({
    clientId: 'subscription-api-test',
    brokers: process.env.KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ...Object.values(topicNames(prefix).facts).map((t) => ({ topic: t, numPartitions: 3 })),
    ],
  });
  await admin.disconnect();

  const box = new SecretBox(parseHubKeys(generateHubKeySpec('test')));
  const apiKeys = new ApiKeyStorePrisma(db.prisma);
  await ensureOperatorKey(apiKeys, OPERATOR_KEY);
  const policy: EndpointPolicy = {
    allowHosts: ['127.0.0.1'],
    requireHttps: true,
    resolve: async (host) => {
      const a = DNS[host];
      if (!a) throw new Error(`ENOTFOUND ${host}`);
      return a;
    },
  };
  const service = createSubscriptionService({
    subscriptions: new SubscriptionRepositoryPrisma(db.prisma),
    eventTypes: new EventTypeRepositoryPrisma(db.prisma),
    deliveryStatus: new DeliveryStatusReaderPrisma(db.prisma),
    box,
    endpointPolicy: policy,
    rotationOverlapMs: 24 * 3600_000,
  });
  const app = await buildSubscriptionApi({
    logger: log,
    registry: new Registry(),
    apiKeys,
    service,
    inboundSources: createInboundSourceService({
      repository: new InboundSourceRepositoryPrisma(db.prisma),
      box,
      rotationOverlapMs: 24 * 3600_000,
      publicBaseUrl: INBOUND_BASE_URL,
    }),
    bodyLimitBytes: opts.bodyLimitBytes ?? 32 * 1024,
    rateLimitPerMinute: 10_000,
  });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const as = (key: string): Client => {
    const headers = { authorization: `Bearer ${key}` };
    return {
      get: (url) => app.inject({ method: 'GET', url, headers }),
      post: (url, payload) => app.inject({ method: 'POST', url, headers, ...(payload ? { payload } : {}) }),
      patch: (url, payload) => app.inject({ method: 'PATCH', url, headers, payload }),
      del: (url) => app.inject({ method: 'DELETE', url, headers }),
    };
  };
  const op = as(OPERATOR_KEY);
  const relays: ChangelogRelay[] = [];
  const grpcServers: GrpcServer[] = [];
  const verifier = createApiKeyVerifier(apiKeys, 30_000);
  const h: Harness = {
    app,
    db,
    pool,
    kafka,
    topic,
    prefix,
    box,
    log,
    logs,
    producer,
    async startRelay(overrides = {}) {
      const relay = await startChangelogRelay({
        pool,
        databaseUrl: db.url,
        producer,
        topic,
        facts: topicNames(prefix).facts,
        log: log.child({ component: 'relay' }),
        intervalMs: 200,
        ...overrides,
      });
      relays.push(relay);
      return relay;
    },
    async startGrpc(overrides = {}) {
      const server = await startSubscriptionApiGrpc({
        host: '127.0.0.1',
        port: 0,
        maxMessageBytes: 64 * 1024,
        verifier,
        service,
        rateLimitPerMinute: 10_000,
        log: log.child({ component: 'grpc' }),
        ...overrides,
      });
      grpcServers.push(server);
      return server;
    },
    as,
    op,
    async tenantKey(tenantId) {
      const res = await op.post('/v1/api-keys', { name: `tenant ${tenantId}`, role: 'TENANT', tenantId });
      if (res.statusCode !== 201) throw new Error(`could not create tenant key: ${res.body}`);
      return res.json().key as string;
    },
    async close() {
      for (const g of grpcServers) await g.close(1_000);
      await h.directory?.stop().catch(() => {});
      for (const r of relays) await r.stop().catch(() => {});
      await app.close();
      await producer.disconnect().catch(() => {});
      await pool.end().catch(() => {});
      await db.drop();
    },
  };
  if (opts.grpc) {
    h.grpc = await h.startGrpc();
  }
  if (opts.relay !== false) h.relay = await h.startRelay();
  if (opts.directory) {
    h.directory = await startSubscriptionDirectory({ kafka, topic, log: log.child({ component: 'directory' }) });
    await h.directory.ready();
  }
  return h;
}

export interface TopicRecord {
  key: string;
  value: Buffer | null;
  partition: number;
  offset: string;
}

/** Reads the whole topic from the beginning with a throwaway group until `done(records)` holds. */
export async function readTopicUntil(
  kafka: Kafka,
  topic: string,
  done: (records: TopicRecord[]) => boolean,
  timeoutMs = 15_000,
): Promise<TopicRecord[]> {
  const records: TopicRecord[] = [];
  const consumer = kafka.consumer({ groupId: `read-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      records.push({ key: message.key?.toString() ?? '', value: message.value, partition, offset: message.offset });
    },
  });
  try {
    await waitFor(() => done(records) || undefined, { timeoutMs, what: `records on ${topic}` });
    return records;
  } finally {
    await consumer.disconnect();
  }
}

export const aSubscription = (overrides: Record<string, unknown> = {}) => ({
  tenantId: 'acme',
  match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' },
  endpointUrl: 'https://hooks.example.com/webhooks',
  ...overrides,
});
