/**
 * subscription-api entry point — wiring only: config, adapters, app, relay; SIGTERM drains.
 *
 *   config ─▶ Postgres (Prisma + pg pool) ─▶ ensure compacted changelog topic ─▶ bootstrap operator key
 *          ─▶ changelog relay (idempotent producer) ─▶ HTTP app listen
 */
import '../pipeline/shared/kafka/kafkajs-idle-fix';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createApiKeyVerifier } from '../pipeline/shared/auth/api-key-auth';
import { ApiKeyStorePrisma } from '../pipeline/shared/auth/api-key-store.prisma';
import { ensureOperatorKey } from '../pipeline/shared/auth/bootstrap';
import { grpcTls } from '../pipeline/shared/config/load-config';
import { parseHubKeys, SecretBox } from '../pipeline/shared/crypto/secret-box';
import { errorMessage } from '../pipeline/shared/errors';
import type { GrpcServer } from '../pipeline/shared/grpc/server.grpc';
import { ensureTopics } from '../pipeline/shared/kafka/admin';
import { createLogger } from '../pipeline/shared/logging/logger';
import { collectProcessMetrics } from '../pipeline/shared/metrics/process';
import { dnsResolver } from '../pipeline/shared/net/safe-lookup';
import { topicNames } from '../pipeline/shared/topics';
import { createPrismaClient } from '../prisma/client';
import { buildSubscriptionApi } from './app';
import { startChangelogRelay } from './changelog-relay.kafka';
import { loadSubscriptionApiConfig } from './config';
import { DeliveryStatusReaderPrisma } from './delivery-status.prisma';
import { EventTypeRepositoryPrisma } from './event-type-repository.prisma';
import { startSubscriptionApiGrpc } from './grpc/server.grpc';
import { InboundSourceRepositoryPrisma } from './inbound-source-repository.prisma';
import { createInboundSourceService } from './inbound-sources';
import { createSubscriptionService } from './service';
import { SubscriptionRepositoryPrisma } from './subscription-repository.prisma';

async function main(): Promise<void> {
  const config = loadSubscriptionApiConfig();
  const tls = grpcTls('subscription-api', config);
  const log = createLogger({ service: 'subscription-api', level: config.LOG_LEVEL });
  const topics = topicNames(config.TOPIC_PREFIX);
  const topic = topics.subscriptions;

  const prisma = createPrismaClient(config.DATABASE_URL);
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 4, application_name: 'subscription-api-relay' });
  // An idle pooled connection dropped by the server must not crash the process; the next checkout reconnects.
  pool.on('error', (err) => log.warn({ err: errorMessage(err) }, 'idle Postgres connection failed'));
  const kafka = new Kafka({
    clientId: `${config.KAFKA_CLIENT_ID}-subscription-api`,
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.WARN,
  });

  // The changelog must be compacted (latest snapshot per subscription id kept forever).
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics();
  if (!existing.includes(topic)) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: config.SUBSCRIPTIONS_TOPIC_PARTITIONS,
          replicationFactor: config.KAFKA_REPLICATION_FACTOR,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.compaction.lag.ms', value: '0' },
          ],
        },
      ],
    });
    log.info({ topic }, 'created compacted changelog topic');
  }
  // The facts the relay publishes (issue 18): plain topics, keyed by tenant.
  const created = await ensureTopics(
    admin,
    Object.values(topics.facts).map((t) => ({ topic: t, replicationFactor: config.KAFKA_REPLICATION_FACTOR })),
  );
  if (created.length > 0) log.info({ created }, 'created facts topics');
  await admin.disconnect();

  const apiKeys = new ApiKeyStorePrisma(prisma);
  if (config.OPERATOR_API_KEY) {
    const { created, record } = await ensureOperatorKey(apiKeys, config.OPERATOR_API_KEY);
    log.info({ apiKeyId: record.id, prefix: record.prefix, created }, 'bootstrap operator key ensured');
  }

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // Java-compatible murmur2: same partition per key as JVM clients
  });
  await producer.connect();
  const relay = await startChangelogRelay({
    pool,
    databaseUrl: config.DATABASE_URL,
    producer,
    topic,
    facts: topics.facts,
    log: log.child({ component: 'changelog-relay' }),
    batchSize: config.RELAY_BATCH_SIZE,
    intervalMs: config.RELAY_INTERVAL_MS,
  });

  const registry = new Registry();
  collectProcessMetrics(registry);
  const box = new SecretBox(parseHubKeys(config.HUB_ENCRYPTION_KEYS));
  const service = createSubscriptionService({
    subscriptions: new SubscriptionRepositoryPrisma(prisma),
    eventTypes: new EventTypeRepositoryPrisma(prisma),
    deliveryStatus: new DeliveryStatusReaderPrisma(prisma),
    box,
    endpointPolicy: {
      allowHosts: config.ENDPOINT_ALLOW_HOSTS,
      requireHttps: config.ENDPOINT_REQUIRE_HTTPS,
      resolve: config.ENDPOINT_RESOLVE_DNS ? dnsResolver() : undefined,
    },
    rotationOverlapMs: config.SECRET_ROTATION_OVERLAP_HOURS * 3600_000,
  });
  let shuttingDown = false;
  const app = await buildSubscriptionApi({
    logger: log,
    registry,
    apiKeys,
    service,
    inboundSources: createInboundSourceService({
      repository: new InboundSourceRepositoryPrisma(prisma),
      box,
      rotationOverlapMs: config.SECRET_ROTATION_OVERLAP_HOURS * 3600_000,
      publicBaseUrl: config.INBOUND_PUBLIC_BASE_URL,
    }),
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    apiKeyCacheTtlMs: config.API_KEY_CACHE_TTL_MS,
    ready: () => ({ ready: !shuttingDown, details: { relayPublished: relay.published() } }),
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  let grpc: GrpcServer | undefined;
  if (config.GRPC_ENABLED) {
    grpc = await startSubscriptionApiGrpc({
      host: config.GRPC_HOST,
      port: config.GRPC_PORT,
      ...(tls ? { tls } : {}),
      maxMessageBytes: config.GRPC_MAX_MESSAGE_BYTES,
      verifier: createApiKeyVerifier(apiKeys, config.API_KEY_CACHE_TTL_MS),
      service,
      rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      log: log.child({ component: 'grpc' }),
    });
    log.info({ grpc: grpc.address, tls: grpc.tls }, 'gRPC listening');
  }

  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down: draining requests, then the changelog');
    const force = setTimeout(() => {
      log.error('shutdown grace period exceeded; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    force.unref();
    try {
      await Promise.all([app.close(), grpc?.close()]); // stop accepting, finish in-flight requests
      await relay.drain().catch((err) => log.warn({ err: errorMessage(err) }, 'final relay drain failed'));
      await relay.stop();
      await producer.disconnect();
      await pool.end();
      await prisma.$disconnect();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  // Config errors carry their own complete message; anything else is unexpected.
  process.stderr.write(`subscription-api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
