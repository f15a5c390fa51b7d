/**
 * dlt-processor entry point — wiring only.
 *
 *   config ─▶ Prisma ─▶ kafka ─▶ directory (wait) ─▶ DLT consumer (persist, then commit) ─▶ scheduler
 *   ─▶ operator API (list/detail/replay/bulk/stats, ledger, change audit) + metrics; optional cleanup; SIGTERM drains.
 *   With the ledger: the ledger relay (ledger outbox ─▶ ledger topic, woken by the store's commits) and the ledger
 *   writer (ledger topic ─▶ Postgres + delivery facts).
 */
import { hostname } from 'node:os';
import { Pool } from 'pg';
import { createPrismaClient } from '../../prisma/client';
import { migrate } from '../../prisma/migrate';
import { createAuditSink } from '../shared/audit/audit';
import { kafkaAuditProducer } from '../shared/audit/audit.kafka';
import { ApiKeyStorePrisma } from '../shared/auth/api-key-store.prisma';
import { ChangeAuditQueryPrisma } from '../shared/change-audit/change-audit.prisma';
import { ConfigError } from '../shared/config/load-config';
import { cachedOpener, parseHubKeys, SecretBox } from '../shared/crypto/secret-box';
import { createAuthProvider } from '../shared/delivery/auth-provider';
import { deliverOnce } from '../shared/delivery/deliver';
import { gateEndpointCheck } from '../shared/delivery/gate';
import { scheduledDelay } from '../shared/delivery/retry-schedule';
import { HttpSender } from '../shared/delivery/send.undici';
import { errorMessage } from '../shared/errors';
import { ensureTopics } from '../shared/kafka/admin';
import { createKafka } from '../shared/kafka/client';
import { LedgerOutboxPrisma, outboxLedgerSink } from '../shared/ledger/ledger-outbox.prisma';
import { LedgerWriterStorePg } from '../shared/ledger/ledger-store.pg';
import { createLogger, type Logger } from '../shared/logging/logger';
import { collectProcessMetrics } from '../shared/metrics/process';
import { FailureStorePrisma } from '../shared/parked/failure-store.prisma';
import { startSubscriptionDirectory } from '../shared/subscriptions/directory.kafka';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { topicNames } from '../shared/topics';
import { buildDltApi } from './app';
import { startCleanup } from './cleanup';
import { loadDltConfig } from './config';
import { defaultConsoleDir, loadConsoleAssets } from './console/assets';
import { startDltConsumer } from './dlt.kafka';
import { kafkaDeliveryFacts } from './fact-producer.kafka';
import { ReplayJobStorePrisma } from './job-store.prisma';
import { type LedgerRelay, startLedgerRelay } from './ledger-relay.kafka';
import { startLedgerWriter } from './ledger-writer.kafka';
import { createDltMetrics, startStatusGauges } from './metrics';
import type { OverviewStats } from './overview-stats';
import { kafkaGroupLag } from './overview-stats.kafka';
import { ledgerAttemptsPerMinute } from './overview-stats.prisma';
import { createRecoveryNotes } from './recovery-notes';
import { createReplayJobs } from './replay-jobs';
import { createLedgerApiDeps } from './routes/ledger';
import { type RedeliveryDeps, startScheduler } from './scheduler';
import { kafkaStreamSource } from './stream-source.kafka';

/** Retries a start step on retriable Kafka errors (e.g. "not the leader" just after topics were created). */
async function retryingKafka<T>(log: Logger, what: string, fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || (err as { retriable?: boolean }).retriable !== true) throw err;
      log.warn({ err: errorMessage(err), attempt: i }, `${what}: retrying`);
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * i)));
    }
  }
}

async function main(): Promise<void> {
  const config = loadDltConfig();
  const log = createLogger({ service: 'dlt-processor', level: config.LOG_LEVEL });
  const topics = topicNames(config.TOPIC_PREFIX);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-dlt`, log });
  if (config.MIGRATE_ON_START) {
    const { applied } = await migrate(config.DATABASE_URL, { log: (line) => log.info(line) });
    log.info({ applied }, 'migrations applied');
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const spec = { partitions: config.TOPIC_PARTITIONS, replicationFactor: config.KAFKA_REPLICATION_FACTOR };
    const created = await ensureTopics(admin, [
      { topic: topics.subscriptions, ...spec, compact: true },
      // The outbox topics too: the ledger writer reads the events from them (the event-processor makes them as well).
      ...[...topics.allDlt(), ...topics.allOutbox(), topics.audit, topics.ledger, ...Object.values(topics.facts)].map(
        (topic) => ({
          topic,
          ...spec,
        }),
      ),
    ]);
    if (created.length > 0) log.info({ created }, 'created missing topics');
  } finally {
    await admin.disconnect();
  }
  const prisma = createPrismaClient(config.DATABASE_URL, { applicationName: 'dlt-processor' });
  // Every committed step with ledger records wakes the relay (started below, once the producer is connected).
  let ledgerRelay: LedgerRelay | undefined;
  const store = new FailureStorePrisma(prisma, {
    onLedgerOutbox: () => ledgerRelay?.nudge(),
    recordLedger: config.LEDGER_ENABLED,
  });
  const metrics = createDltMetrics();
  const registry = metrics.registry;
  collectProcessMetrics(registry);

  const box = new SecretBox(parseHubKeys(config.HUB_ENCRYPTION_KEYS));
  const sender = new HttpSender({
    allowHosts: config.ENDPOINT_ALLOW_HOSTS,
    connectionsPerOrigin: config.PER_ENDPOINT_CONCURRENCY,
    totalTimeoutMs: config.REQUEST_TIMEOUT_MS,
  });
  const open = cachedOpener(box);
  const auth = createAuthProvider({ open, send: (r) => sender.send(r) });
  const directory = await retryingKafka(log, 'subscription directory', () =>
    startSubscriptionDirectory({
      kafka,
      topic: topics.subscriptions,
      log: log.child({ component: 'directory' }),
      groupPrefix: `${config.GROUP_ID}-directory`,
      onChange: (id) => auth.invalidate(id),
    }),
  );
  const scheduleFor = (sub: SubscriptionSnapshot | undefined) => sub?.retrySchedule ?? config.DELIVERY_RETRY_SCHEDULE;
  const auditProducer = kafka.producer();
  await auditProducer.connect();
  // The delivery ledger's records of scheduled retries and replays: written to the ledger outbox in Postgres with
  // the step they record, relayed to the ledger topic (acks=-1) by the relay; the facts of the ledger writer.
  const ledgerProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await ledgerProducer.connect();
  const ledgerSink = config.LEDGER_ENABLED
    ? outboxLedgerSink(new LedgerOutboxPrisma(prisma), () => ledgerRelay?.nudge())
    : undefined;
  // The relay holds its transaction open across the produce: a pool of its own, so that it never takes a connection
  // the scheduler needs to record a step (or the other way round).
  const relayPrisma = config.LEDGER_ENABLED
    ? createPrismaClient(config.DATABASE_URL, { poolSize: 2, applicationName: 'dlt-processor-ledger-relay' })
    : undefined;
  // Started before the scheduler: rows left by an instance that died are relayed at once.
  ledgerRelay = relayPrisma
    ? startLedgerRelay({
        outbox: new LedgerOutboxPrisma(relayPrisma),
        producer: ledgerProducer,
        topic: topics.ledger,
        log,
        metrics,
      })
    : undefined;
  const audit = createAuditSink({
    producer: kafkaAuditProducer(auditProducer, topics.audit),
    source: '//integration-hub/dlt-processor',
  });
  const recovery = createRecoveryNotes(store, { log });
  const redelivery: RedeliveryDeps = {
    store,
    recovery,
    directory,
    deliver: (event, sub) => deliverOnce(event, sub, { sender, auth, open }),
    audit,
    log,
    instanceId: `${hostname()}-${process.pid}`,
    scheduleFor,
    retryAfterCapMs: config.RETRY_AFTER_MAX_MS,
    endpointRejection: gateEndpointCheck(config.ENDPOINT_ALLOW_HOSTS),
    leaseMs: config.CLAIM_LEASE_MS,
    onAttempt: (source, outcome) => metrics.redeliveries.inc({ source, outcome }),
    onExhausted: () => metrics.exhausted.inc(),
    recordLedger: config.LEDGER_ENABLED,
  };
  // The operator API over the ledger: events, deliveries, replay of any event, recover.
  const ledgerApi = ledgerSink
    ? createLedgerApiDeps(
        prisma,
        { ...redelivery, ledger: ledgerSink },
        { retentionDays: config.LOG_RETENTION_DAYS, recoverConcurrency: config.REPLAY_CONCURRENCY },
      )
    : undefined;
  const jobs = createReplayJobs(new ReplayJobStorePrisma(prisma), redelivery, config.REPLAY_CONCURRENCY);
  // The console overview's figures: attempts per minute from the ledger; consumer lag through an admin client that
  // connects on first use (an operator opening the overview), not at start.
  const statsAdmin = kafka.admin();
  let statsAdminUp: Promise<void> | undefined;
  const groupLag = kafkaGroupLag(statsAdmin, config.TOPIC_PREFIX, config.INGEST_TOPICS);
  const overview: OverviewStats = {
    attemptsPerMinute: ledgerAttemptsPerMinute(prisma),
    lag: async () => {
      statsAdminUp ??= statsAdmin.connect();
      try {
        await statsAdminUp;
      } catch {
        statsAdminUp = undefined;
        return undefined;
      }
      return groupLag();
    },
  };

  const gauges = startStatusGauges({ metrics, store, intervalMs: config.STATS_REFRESH_MS, log });
  void gauges.refresh();

  const consoleDir = config.CONSOLE_DIR ?? defaultConsoleDir();
  const consoleAssets = loadConsoleAssets(consoleDir);
  // Not an error for the pipeline (deliveries and the API work); the console page itself says what to do.
  if (!consoleAssets) log.info({ consoleDir }, 'operator console not built (npm run build): /console answers 503');

  let shuttingDown = false;
  let consumer: Awaited<ReturnType<typeof startDltConsumer>> | undefined;
  const app = await buildDltApi({
    logger: log,
    registry,
    apiKeys: new ApiKeyStorePrisma(prisma),
    store,
    redelivery,
    jobs,
    ledger: ledgerApi,
    overview: ledgerApi ? overview : undefined,
    changeAudit: new ChangeAuditQueryPrisma(prisma),
    console: { assets: consoleAssets, api: { subscriptionApiUrl: config.SUBSCRIPTION_API_URL } },
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE || undefined,
    stream: config.STREAM_ENABLED
      ? {
          source: kafkaStreamSource(kafka, config.GROUP_ID, log),
          topics,
          log,
          bufferBytes: config.STREAM_BUFFER_BYTES,
          pingMs: config.STREAM_PING_MS,
          maxPerKey: config.STREAM_MAX_PER_KEY,
          maxPerTenant: config.STREAM_MAX_PER_TENANT,
        }
      : undefined,
    ready: () => ({
      ready: !shuttingDown && directory.isReady() && consumer !== undefined && !consumer.paused(),
      details: { dbPaused: consumer?.paused() ?? null },
    }),
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  await directory.ready();
  // Until the real shutdown below is in place (a crash during start-up), a fatal error exits at once: nothing has
  // been dispatched yet that would need draining.
  let shutdown = async (_signal: string, code = 1): Promise<void> => process.exit(code);
  const onFatal = (err: Error) => {
    log.fatal({ err: errorMessage(err) }, 'dlt consumer stopped for good; exiting so the instance is restarted');
    void shutdown('fatal', 1);
  };
  // The durable schedule first: it needs only Postgres and the directory. A restarted instance makes the retries
  // that are due at once, while its consumers wait for their groups (a dead member's session to expire).
  const scheduler = startScheduler({
    ...redelivery,
    intervalMs: config.SCHEDULER_INTERVAL_MS,
    batchSize: config.SCHEDULER_BATCH_SIZE,
    concurrency: config.SCHEDULER_CONCURRENCY,
    laneWaitReleaseMs: config.LANE_WAIT_RELEASE_MS,
  });
  consumer = await startDltConsumer({
    onFatal,
    kafka,
    topics: topics.allDlt(),
    groupId: config.GROUP_ID,
    store,
    log,
    onPersisted: (n) => metrics.persisted.inc(n),
    sessionTimeoutMs: config.SESSION_TIMEOUT_MS,
    firstDelay: (row) =>
      scheduledDelay(scheduleFor(directory.get(row.subscriptionId)), 0, row.retryAfterMs, config.RETRY_AFTER_MAX_MS),
  });
  // The ledger writer's own connections (node-postgres directly: ledger-store.pg.ts): two transactions at a time,
  // and one for its pings and partition work.
  const ledgerPool = config.LEDGER_ENABLED
    ? new Pool({ connectionString: config.DATABASE_URL, max: 3, application_name: 'dlt-processor-ledger' })
    : undefined;
  // An idle connection the server closed is dropped by the pool; the error must not crash the process.
  ledgerPool?.on('error', (err) => log.warn({ err: errorMessage(err) }, 'idle Postgres connection failed'));
  const ledgerWriter = ledgerPool
    ? await startLedgerWriter({
        onFatal,
        kafka,
        topic: topics.ledger,
        outboxTopics: topics.allOutbox(),
        groupId: `${config.GROUP_ID}-ledger`,
        store: new LedgerWriterStorePg(ledgerPool, { log: log.child({ component: 'ledger-writer' }) }),
        log,
        retentionDays: config.LOG_RETENTION_DAYS,
        metrics,
        sessionTimeoutMs: config.SESSION_TIMEOUT_MS,
        // WebhookDelivered / IntegrationFailed (issue 18): acked before the ledger offsets commit.
        facts: kafkaDeliveryFacts(ledgerProducer, topics.facts, config.FACTS_DELIVERED),
      })
    : undefined;
  const pausedTimer = setInterval(() => metrics.dbPaused.set(consumer?.paused() ? 1 : 0), 1000);
  pausedTimer.unref();
  const cleanup = config.CLEANUP_ENABLED
    ? startCleanup({ store, retentionHours: config.RETENTION_HOURS, intervalMs: config.CLEANUP_INTERVAL_MS, log })
    : undefined;
  log.info({ port: config.PORT, cleanup: config.CLEANUP_ENABLED }, 'dlt-processor running');

  shutdown = async (signal: string, code = 0) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down: finishing the current batch and retry round');
    const force = setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS + 5000);
    force.unref();
    try {
      await consumer?.stop();
      await ledgerWriter?.stop();
      await ledgerPool?.end();
      await scheduler.stop();
      cleanup?.stop();
      gauges.stop();
      clearInterval(pausedTimer);
      await jobs.stop();
      await ledgerApi?.recoverJobs.stop();
      await recovery.flush();
      // After every writer of the outbox: what the last steps wrote is relayed now if the broker takes it (else
      // the rows wait in Postgres for the next instance).
      await ledgerRelay?.stop();
      await relayPrisma?.$disconnect();
      await app.close();
      await audit.stop();
      await auditProducer.disconnect();
      await ledgerProducer.disconnect();
      if (statsAdminUp) await statsAdmin.disconnect().catch(() => {});
      await directory.stop();
      await sender.close();
      await prisma.$disconnect();
      log.info('stopped');
      process.exit(code);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`dlt-processor failed to start: ${errorMessage(err)}`);
  process.exit(1);
});
