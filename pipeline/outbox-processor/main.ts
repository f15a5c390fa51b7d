/**
 * outbox-processor entry point — wiring only.
 *
 *   config ─▶ kafka ─▶ subscription directory (wait until caught up) ─▶ delivery deps (SecretBox, undici sender,
 *   auth provider, breakers) ─▶ handler ─▶ outbox consumer ─▶ health/metrics server; SIGTERM drains.
 */
import { createPrismaClient } from '../../prisma/client';
import { type AuditSink, createAuditSink } from '../shared/audit/audit';
import { kafkaAuditProducer } from '../shared/audit/audit.kafka';
import { ConfigError } from '../shared/config/load-config';
import { cachedOpener, parseHubKeys, SecretBox } from '../shared/crypto/secret-box';
import { createAuthProvider } from '../shared/delivery/auth-provider';
import { BreakerRegistry } from '../shared/delivery/circuit-breaker';
import { type DeliveryResult, deliverBatch, deliverOnce } from '../shared/delivery/deliver';
import { gateEndpointCheck } from '../shared/delivery/gate';
import type { SenderOptions } from '../shared/delivery/send';
import { HttpSender } from '../shared/delivery/send.undici';
import { errorMessage } from '../shared/errors';
import { createApp } from '../shared/http/create-app';
import { ensureTopics } from '../shared/kafka/admin';
import { createKafka } from '../shared/kafka/client';
import { createLogger, type Logger } from '../shared/logging/logger';
import { collectProcessMetrics } from '../shared/metrics/process';
import { FailureStorePrisma } from '../shared/parked/failure-store.prisma';
import type { SubscriptionDirectory } from '../shared/subscriptions/directory';
import { startSubscriptionDirectory } from '../shared/subscriptions/directory.kafka';
import { batchOf, type SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { topicNames } from '../shared/topics';
import { createBatcher } from './batch';
import { loadOutboxConfig, type OutboxConfig } from './config';
import { createEndpointGates } from './deliver-record';
import { createDeliveryHandler, type DeliveryOutcome, type OutboxItem } from './handler';
import { createOutboxMetrics, type OutboxMetrics, statusClass } from './metrics';
import { type OutboxConsumer, type OutboxRunnerOptions, startOutboxConsumer } from './outbox.kafka';

export interface OutboxProcessor {
  /** Bound port of the health and metrics server. */
  port: number;
  directory: SubscriptionDirectory;
  breakers: BreakerRegistry;
  metrics: OutboxMetrics;
  sender: HttpSender;
  consumer: OutboxConsumer;
  /** Graceful stop (what SIGTERM does): finish in-flight deliveries within the grace period, commit, leave. */
  stop(): Promise<void>;
}

type Deliver = (event: OutboxItem['event'], sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
type Handle = (item: OutboxItem) => Promise<DeliveryOutcome>;

/** What a caller other than `main` may put in (the test harness); every default is what production runs. */
export interface OutboxProcessorHooks {
  /** The consumer stopped for good (kafkajs will not restart it). */
  onFatal?: (err: Error) => void;
  /** Where audit entries go (default: the audit topic). */
  audit?: AuditSink;
  /** Where ordered lanes are parked (default: Postgres at DATABASE_URL); null: nowhere (they go to the DLT topic). */
  lanes?: OutboxRunnerOptions['lanes'] | null;
  /** Sender options the environment cannot express (a DNS lookup). */
  sender?: Partial<SenderOptions>;
  /** Wraps one HTTP attempt (a test counts the attempts open per endpoint). */
  wrapDeliver?: (deliver: Deliver) => Deliver;
  /** Wraps the delivery handler (a test injects an unexpected rejection). */
  wrapHandle?: (handle: Handle) => Handle;
  /** How long a lane's head must run for the lane to count as stalled (default ENDPOINT_STALL_MS). */
  laneStallMs?: number;
  /** The durable schedule parked lane heads start on, in ms (default DELIVERY_RETRY_SCHEDULE, whose steps are 1 s or more). */
  retrySchedule?: readonly number[];
}

export async function startOutboxProcessor(
  config: OutboxConfig,
  log: Logger,
  hooks: OutboxProcessorHooks = {},
): Promise<OutboxProcessor> {
  const topics = topicNames(config.TOPIC_PREFIX);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-outbox`, log });
  const metrics = createOutboxMetrics();
  collectProcessMetrics(metrics.registry);
  // The topics this service writes (DLT, ledger): created when missing, as the other services do theirs. Without
  // them a DLT or ledger produce would wait, and the offsets with it.
  const admin = kafka.admin();
  await admin.connect();
  try {
    const spec = { partitions: config.TOPIC_PARTITIONS, replicationFactor: config.KAFKA_REPLICATION_FACTOR };
    const created = await ensureTopics(admin, [
      ...topics.allDlt().map((topic) => ({ topic, ...spec })),
      ...(config.LEDGER_ENABLED ? [{ topic: topics.ledger, ...spec }] : []),
    ]);
    if (created.length > 0) log.info({ created }, 'created missing topics');
  } finally {
    await admin.disconnect();
  }

  const box = new SecretBox(parseHubKeys(config.HUB_ENCRYPTION_KEYS));
  const sender = new HttpSender({
    allowHosts: config.ENDPOINT_ALLOW_HOSTS,
    connectTimeoutMs: config.CONNECT_TIMEOUT_MS,
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: config.BODY_TIMEOUT_MS,
    totalTimeoutMs: config.REQUEST_TIMEOUT_MS,
    maxResponseBytes: config.MAX_RESPONSE_BYTES,
    poolIdleMs: config.POOL_IDLE_MS,
    connectionsPerOrigin: config.PER_ENDPOINT_CONCURRENCY,
    ...hooks.sender,
  });
  const open = cachedOpener(box);
  const auth = createAuthProvider({ open, send: (r) => sender.send(r) });
  const directory = await startSubscriptionDirectory({
    kafka,
    topic: topics.subscriptions,
    log: log.child({ component: 'directory' }),
    groupPrefix: `${config.GROUP_ID}-directory`,
    onChange: (id) => auth.invalidate(id),
  });

  let consumer: OutboxConsumer | undefined;
  let shuttingDown = false;
  const app = await createApp({
    name: 'outbox-processor',
    logger: log,
    registry: metrics.registry,
    docs: false,
    ready: () => ({
      ready: !shuttingDown && directory.isReady() && consumer !== undefined,
      details: { subscriptions: directory.size() },
    }),
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.PORT;
  await directory.ready();

  const breakers = new BreakerRegistry({
    windowMs: config.BREAKER_WINDOW_MS,
    minRequests: config.BREAKER_MIN_REQUESTS,
    failureRatio: config.BREAKER_FAILURE_RATIO,
    openMs: config.BREAKER_OPEN_MS,
    halfOpenProbes: config.BREAKER_HALF_OPEN_PROBES,
  });
  const breakerGauge = setInterval(() => {
    const counts = breakers.counts();
    for (const [state, n] of Object.entries(counts)) metrics.breakers.set({ state }, n);
    metrics.breakersOpen.set(counts.open + counts['half-open']);
  }, 1000);
  breakerGauge.unref();

  const auditProducer = hooks.audit ? undefined : kafka.producer();
  await auditProducer?.connect();
  const audit =
    hooks.audit ??
    createAuditSink({
      producer: kafkaAuditProducer(auditProducer!, topics.audit),
      source: '//integration-hub/outbox-processor',
      onError: (err, dropped) => log.warn({ err: errorMessage(err), dropped }, 'audit entries not written'),
    });
  const stopping = new AbortController();
  const endpointRejection = gateEndpointCheck(config.ENDPOINT_ALLOW_HOSTS);
  // Postgres holds the parked heads of ordered lanes (and the durable schedule the dlt-processor runs).
  const prisma =
    hooks.lanes === undefined
      ? createPrismaClient(config.DATABASE_URL, { applicationName: 'outbox-processor' })
      : undefined;
  const lanes = prisma ? new FailureStorePrisma(prisma) : (hooks.lanes ?? undefined);
  const deliveryDeps = { sender, auth, open };
  // One gate per endpoint origin, shared by the deliver stage (a slot per record) and the batcher (a slot per batch).
  const endpointGates = createEndpointGates({
    perEndpointConcurrency: config.PER_ENDPOINT_CONCURRENCY,
    perEndpointQueue: config.PER_ENDPOINT_QUEUE,
    maxInFlightPerPartition: config.MAX_IN_FLIGHT_PER_PARTITION,
    endpointStallMs: config.ENDPOINT_STALL_MS,
  });
  const batcher = createBatcher({
    send: (events, sub) => {
      metrics.batchEvents.observe(events.length);
      return endpointGates.for(sub.endpointUrl).run(
        () => deliverBatch(events, sub, deliveryDeps),
        (r) => r.outcome === 'delivered',
      );
    },
    closing: () => stopping.signal.aborted,
  });
  stopping.signal.addEventListener('abort', () => batcher.flush(), { once: true });
  const deliver: Deliver = (event, sub) =>
    batchOf(sub) ? batcher.deliver(event, sub) : deliverOnce(event, sub, deliveryDeps);
  const handle = createDeliveryHandler({
    directory,
    endpointRejection,
    deliver: hooks.wrapDeliver ? hooks.wrapDeliver(deliver) : deliver,
    policy: {
      maxAttempts: config.MAX_ATTEMPTS,
      baseDelayMs: config.RETRY_BASE_MS,
      maxDelayMs: config.RETRY_MAX_MS,
      maxTotalMs: config.RETRY_MAX_TOTAL_MS,
    },
    breakerFor: (url) => breakers.for(url),
    audit,
    signal: stopping.signal,
    onAttempt: (r, attempt) => {
      metrics.attempts.inc({ status_class: statusClass(r.status) });
      if (attempt > 1) metrics.retries.inc();
    },
  });
  consumer = await startOutboxConsumer({
    onFatal: hooks.onFatal,
    kafka,
    topics,
    groupId: config.GROUP_ID,
    directory,
    endpointRejection,
    handle: hooks.wrapHandle ? hooks.wrapHandle(handle) : handle,
    lanes,
    ledgerTopic: config.LEDGER_ENABLED ? topics.ledger : undefined,
    ledgerLingerMs: config.LEDGER_LINGER_MS,
    scheduleFor: (sub) => sub.retrySchedule ?? hooks.retrySchedule ?? config.DELIVERY_RETRY_SCHEDULE,
    retryAfterCapMs: config.RETRY_AFTER_MAX_MS,
    orderedLaneQueue: config.ORDERED_LANE_QUEUE,
    laneStallMs: hooks.laneStallMs,
    breakerOpen: (url) => breakers.isOpen(url),
    shutdown: stopping,
    log,
    metrics,
    maxInFlight: config.MAX_IN_FLIGHT,
    maxInFlightBytes: config.MAX_IN_FLIGHT_BYTES,
    maxInFlightPerPartition: config.MAX_IN_FLIGHT_PER_PARTITION,
    perEndpointConcurrency: config.PER_ENDPOINT_CONCURRENCY,
    perEndpointQueue: config.PER_ENDPOINT_QUEUE,
    endpointStallMs: config.ENDPOINT_STALL_MS,
    endpointGates,
    flushBatches: () => batcher.flush(),
    partitionsConsumedConcurrently: config.PARTITIONS_CONCURRENTLY,
    commitIntervalMs: config.COMMIT_INTERVAL_MS,
    sessionTimeoutMs: config.SESSION_TIMEOUT_MS,
    rebalanceDrainMs: config.REBALANCE_DRAIN_MS,
  });
  log.info({ port, subscriptions: directory.size() }, 'outbox-processor consuming');

  const running = consumer;
  let stopped: Promise<void> | undefined;
  return {
    port,
    directory,
    breakers,
    metrics,
    sender,
    consumer: running,
    stop() {
      stopped ??= (async () => {
        shuttingDown = true;
        clearInterval(breakerGauge);
        await running.stop(config.SHUTDOWN_GRACE_MS);
        await audit.stop();
        await auditProducer?.disconnect();
        await directory.stop();
        await sender.close();
        await prisma?.$disconnect();
        await app.close();
      })();
      return stopped;
    },
  };
}

async function main(): Promise<void> {
  const config = loadOutboxConfig();
  const log = createLogger({ service: 'outbox-processor', level: config.LOG_LEVEL });
  let processor: OutboxProcessor | undefined;
  // Until the processor is up (a crash during start-up), a fatal error exits at once: nothing has been dispatched
  // yet that would need draining.
  const shutdown = async (signal: string, code = 0): Promise<void> => {
    if (!processor) process.exit(code || 1);
    log.info(
      { signal, inFlight: processor.consumer.inFlight() },
      'shutting down: finishing in-flight deliveries, committing',
    );
    const force = setTimeout(() => {
      log.error('shutdown grace exceeded; exiting (uncommitted records will be redelivered)');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS + 5_000);
    force.unref();
    try {
      await processor.stop();
      log.info('stopped');
      process.exit(code);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'error during shutdown');
      process.exit(1);
    }
  };
  processor = await startOutboxProcessor(config, log, {
    onFatal: (err) => {
      log.fatal({ err: errorMessage(err) }, 'outbox consumer stopped for good; exiting so the instance is restarted');
      void shutdown('fatal', 1);
    },
  });
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(`outbox-processor failed to start: ${errorMessage(err)}`);
    process.exit(1);
  });
}
