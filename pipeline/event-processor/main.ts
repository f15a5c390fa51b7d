/**
 * event-processor entry point — wiring only.
 *
 *   config ─▶ topics (outbox x4, quarantine, audit, ledger, facts, ingest, subscriptions) ─▶ HTTP (/healthz,
 *   /readyz, /metrics, POST /v1/events when DATABASE_URL is set, POST /v1/inbound/{sourceId} when HUB_ENCRYPTION_KEYS
 *   is too) ─▶ subscription directory, wait until caught up ─▶ transactional ingest consumer ─▶ ready.
 *   SIGTERM: stop HTTP, finish + commit the running chunk, leave the group, flush audit.
 */
import type { Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { createPrismaClient } from '../../prisma/client';
import { createAuditSink } from '../shared/audit/audit';
import { kafkaAuditProducer } from '../shared/audit/audit.kafka';
import { createApiKeyVerifier } from '../shared/auth/api-key-auth';
import { ApiKeyStorePrisma } from '../shared/auth/api-key-store.prisma';
import { grpcTls } from '../shared/config/load-config';
import { parseHubKeys, SecretBox } from '../shared/crypto/secret-box';
import { errorMessage } from '../shared/errors';
import type { GrpcServer } from '../shared/grpc/server.grpc';
import { createApp, type HubApp } from '../shared/http/create-app';
import { ensureTopics } from '../shared/kafka/admin';
import { createKafka } from '../shared/kafka/client';
import { createLogger, type Logger } from '../shared/logging/logger';
import { collectProcessMetrics } from '../shared/metrics/process';
import type { SubscriptionDirectory } from '../shared/subscriptions/directory';
import { startSubscriptionDirectory } from '../shared/subscriptions/directory.kafka';
import { topicNames } from '../shared/topics';
import { type EventProcessorConfig, loadEventProcessorConfig } from './config';
import { decodeRecord } from './decode-input';
import { createEventHandler } from './handler';
import { registerHttpInbound } from './http-inbound';
import { registerHttpIngest } from './http-ingest.fastify';
import { cachedInboundSources, prismaInboundDedupe } from './inbound-sources.prisma';
import { startIngestGrpc } from './ingest.grpc';
import { type IngestRunner, startIngest } from './ingest.kafka';
import { kafkaIngestPublisher } from './ingest-publisher.kafka';
import { createEventProcessorMetrics, type EventProcessorMetrics } from './metrics';
import { confluentSchemaDecoder, createSchemaRegistry, withoutCredentials } from './schema-decoder.confluent';

export interface EventProcessor {
  /** Bound HTTP port. */
  port: number;
  /** The gRPC ingest server (`host:port`), when DATABASE_URL is set and GRPC_ENABLED. */
  grpc?: GrpcServer;
  app: HubApp;
  directory: SubscriptionDirectory;
  runner: IngestRunner;
  metrics: EventProcessorMetrics;
  /** Graceful stop (what SIGTERM does). */
  stop(): Promise<void>;
}

export async function startEventProcessor(
  config: EventProcessorConfig,
  log: Logger,
  hooks: { onFatal?: (err: Error) => void } = {},
): Promise<EventProcessor> {
  const topics = topicNames(config.TOPIC_PREFIX);
  const tls = grpcTls('event-processor', config);
  const kafka: Kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: `${config.KAFKA_CLIENT_ID}-event-processor`,
    log: log.child({ component: 'kafka' }),
  });

  const admin = kafka.admin();
  await admin.connect();
  try {
    const spec = { partitions: config.TOPIC_PARTITIONS, replicationFactor: config.KAFKA_REPLICATION_FACTOR };
    const created = await ensureTopics(admin, [
      { topic: topics.subscriptions, ...spec, compact: true },
      // The facts topics: an accepted inbound webhook's WebhookDelivered goes there (the producer never auto-creates).
      ...[
        ...topics.allOutbox(),
        topics.quarantine,
        topics.audit,
        topics.ledger,
        ...Object.values(topics.facts),
        ...config.INGEST_TOPICS,
      ].map((topic) => ({ topic, ...spec })),
    ]);
    if (created.length > 0) log.info({ created }, 'created missing topics');
  } finally {
    await admin.disconnect();
  }

  const metrics = createEventProcessorMetrics();
  collectProcessMetrics(metrics.registry);
  let phase: 'starting' | 'ready' | 'stopping' = 'starting';
  let directory: SubscriptionDirectory | undefined;
  const app = await createApp({
    name: 'event-processor',
    description: 'Ingests platform events and fans them out to per-domain outbox topics',
    logger: log,
    registry: metrics.registry,
    bodyLimit: config.HTTP_BODY_LIMIT_BYTES,
    ready: () => ({
      ready: phase === 'ready',
      details: { phase, subscriptions: directory?.size() ?? 0, directoryReady: directory?.isReady() ?? false },
    }),
  });

  const producers: Producer[] = [];
  let grpc: GrpcServer | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  const prisma = config.DATABASE_URL
    ? createPrismaClient(config.DATABASE_URL, { poolSize: 4, applicationName: 'event-processor' })
    : undefined;
  if (prisma) {
    const ingestProducer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await ingestProducer.connect();
    producers.push(ingestProducer);
    const store = new ApiKeyStorePrisma(prisma);
    const publisher = kafkaIngestPublisher(ingestProducer, config.INGEST_TOPICS[0]!);
    await registerHttpIngest(app, {
      store,
      publisher,
      maxEventBytes: config.MAX_EVENT_BYTES,
      maxBatchEvents: config.HTTP_MAX_BATCH_EVENTS,
      bodyLimitBytes: config.HTTP_BODY_LIMIT_BYTES,
      apiKeyCacheTtlMs: config.API_KEY_CACHE_TTL_MS,
      rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      metrics,
    });
    if (config.HUB_ENCRYPTION_KEYS) {
      const dedupe = prismaInboundDedupe(prisma, { windowMs: config.INBOUND_DEDUPE_WINDOW_HOURS * 3600_000 });
      await registerHttpInbound(app, {
        sources: cachedInboundSources(prisma, config.INBOUND_SOURCE_CACHE_TTL_MS),
        dedupe,
        publisher,
        box: new SecretBox(parseHubKeys(config.HUB_ENCRYPTION_KEYS)),
        bodyLimitBytes: config.INBOUND_BODY_LIMIT_BYTES,
        maxEventBytes: config.MAX_EVENT_BYTES,
        rateLimitPerMinute: config.INBOUND_RATE_LIMIT_PER_MINUTE,
        metrics,
        // WebhookDelivered (direction inbound) in the same produce as the accepted event (issue 18).
        facts: { topics: topics.facts, mode: config.FACTS_DELIVERED },
      });
      // Delivery ids older than the window are only clutter; several instances pruning at once is harmless.
      pruneTimer = setInterval(() => {
        dedupe.prune().catch((err) => log.warn({ err: errorMessage(err) }, 'pruning inbound delivery ids failed'));
      }, 600_000);
      pruneTimer.unref();
    } else {
      log.info('HUB_ENCRYPTION_KEYS is not set: inbound webhooks (POST /v1/inbound/{sourceId}) are disabled');
    }
    if (config.GRPC_ENABLED) {
      grpc = await startIngestGrpc({
        host: config.GRPC_HOST,
        port: config.GRPC_PORT,
        ...(tls ? { tls } : {}),
        maxMessageBytes: config.GRPC_MAX_MESSAGE_BYTES,
        verifier: createApiKeyVerifier(store, config.API_KEY_CACHE_TTL_MS),
        publisher,
        decode: { maxEventBytes: config.MAX_EVENT_BYTES },
        maxBatchEvents: config.HTTP_MAX_BATCH_EVENTS,
        rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
        metrics,
        log: log.child({ component: 'grpc' }),
      });
    }
  } else {
    log.warn('DATABASE_URL is not set: HTTP ingest (POST /v1/events) is disabled, Kafka ingest only');
  }
  await app.listen({ port: config.PORT, host: config.HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;

  directory = await startSubscriptionDirectory({
    kafka,
    topic: topics.subscriptions,
    log: log.child({ component: 'directory' }),
    groupPrefix: `${config.GROUP_ID}-directory`,
  });
  await directory.ready();

  const auditProducer = kafka.producer({ allowAutoTopicCreation: false });
  await auditProducer.connect();
  producers.push(auditProducer);
  const audit = createAuditSink({
    producer: kafkaAuditProducer(auditProducer, topics.audit),
    source: '//integration-hub/event-processor',
    onError: (err, dropped) => log.warn({ err: errorMessage(err), dropped }, 'audit entries dropped'),
  });

  const registryOptions = config.SCHEMA_REGISTRY_URL
    ? {
        url: config.SCHEMA_REGISTRY_URL,
        username: config.SCHEMA_REGISTRY_USERNAME,
        password: config.SCHEMA_REGISTRY_PASSWORD,
      }
    : undefined;
  const schemaDecoder = registryOptions
    ? confluentSchemaDecoder(createSchemaRegistry(registryOptions), registryOptions)
    : undefined;
  const decodeOptions = { maxEventBytes: config.MAX_EVENT_BYTES, schemaDecoder };
  const runner = await startIngest({
    kafka,
    topics: config.INGEST_TOPICS,
    groupId: config.GROUP_ID,
    transactionalIdPrefix: `${config.GROUP_ID}-${config.instanceId}`,
    concurrency: config.CONCURRENCY,
    maxBatchRecords: config.MAX_BATCH_RECORDS,
    onFatal: hooks.onFatal,
    transactionTimeoutMs: config.TRANSACTION_TIMEOUT_MS,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    decode: (record) => decodeRecord(record, decodeOptions),
    handler: createEventHandler({ directory, topics, ledger: config.LEDGER_ENABLED }),
    decodeDependency: registryOptions
      ? `the schema registry at ${withoutCredentials(registryOptions.url)} (SCHEMA_REGISTRY_URL)`
      : undefined,
    audit,
    metrics,
    log: log.child({ component: 'ingest' }),
  });
  phase = 'ready';
  grpc?.serving();
  log.info(
    {
      port,
      ...(grpc ? { grpc: grpc.address } : {}),
      ingest: config.INGEST_TOPICS,
      group: config.GROUP_ID,
      instance: config.instanceId,
    },
    'event-processor ready',
  );

  const dir = directory;
  let stopping: Promise<void> | undefined;
  return {
    port,
    ...(grpc ? { grpc } : {}),
    app,
    directory: dir,
    runner,
    metrics,
    stop() {
      stopping ??= (async () => {
        phase = 'stopping';
        clearInterval(pruneTimer);
        await Promise.all([
          app.close().catch((err) => log.warn({ err: errorMessage(err) }, 'HTTP close failed')),
          grpc?.close(),
        ]);
        await runner.stop();
        await audit.stop();
        await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
        await dir.stop();
        await prisma?.$disconnect();
      })();
      return stopping;
    },
  };
}

async function main(): Promise<void> {
  const config = loadEventProcessorConfig();
  const log = createLogger({ service: 'event-processor', level: config.LOG_LEVEL });
  let processor: EventProcessor | undefined;
  const shutdown = (signal: string, code = 0) => {
    log.info({ signal }, 'shutting down: finishing the running batch, committing, leaving the group');
    if (!processor) process.exit(code || 1); // still starting: nothing to drain
    const force = setTimeout(() => {
      log.error('shutdown grace period exceeded; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    force.unref();
    processor.stop().then(
      () => {
        log.info('stopped');
        process.exit(code);
      },
      (err) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  processor = await startEventProcessor(config, log, {
    // The ingest consumer stopped for good: leave with an error so the supervisor starts a fresh instance
    // (it resumes from the committed offsets) instead of running without consuming.
    onFatal: (err) => {
      log.fatal({ err: errorMessage(err) }, 'ingest consumer stopped for good; exiting so the instance is restarted');
      shutdown('fatal', 1);
    },
  });
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    // Config errors carry their own advice; anything else is a start failure.
    process.stderr.write(`event-processor failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
