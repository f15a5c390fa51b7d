/** Runs the dlt-processor in-process: real broker, a fresh database, real subscribers, its real operator API. */
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { buildDltApi } from '../../pipeline/dlt-processor/app';
import { startDltConsumer } from '../../pipeline/dlt-processor/dlt.kafka';
import { kafkaDeliveryFacts } from '../../pipeline/dlt-processor/fact-producer.kafka';
import { ReplayJobStorePrisma } from '../../pipeline/dlt-processor/job-store.prisma';
import { type LedgerRelay, startLedgerRelay } from '../../pipeline/dlt-processor/ledger-relay.kafka';
import { type LedgerWriter, startLedgerWriter } from '../../pipeline/dlt-processor/ledger-writer.kafka';
import { createDltMetrics, startStatusGauges } from '../../pipeline/dlt-processor/metrics';
import type { OverviewStats } from '../../pipeline/dlt-processor/overview-stats';
import { kafkaGroupLag } from '../../pipeline/dlt-processor/overview-stats.kafka';
import { ledgerAttemptsPerMinute } from '../../pipeline/dlt-processor/overview-stats.prisma';
import { createRecoveryNotes, type RecoveryNotes } from '../../pipeline/dlt-processor/recovery-notes';
import { createReplayJobs } from '../../pipeline/dlt-processor/replay-jobs';
import { createLedgerApiDeps } from '../../pipeline/dlt-processor/routes/ledger';
import type { StreamDeps } from '../../pipeline/dlt-processor/routes/stream';
import { type RedeliveryDeps, startScheduler } from '../../pipeline/dlt-processor/scheduler';
import { kafkaStreamSource, type StreamSource } from '../../pipeline/dlt-processor/stream-source.kafka';
import { memoryAuditSink } from '../../pipeline/shared/audit/audit';
import { generateApiKey, hashApiKey, publicPrefix } from '../../pipeline/shared/auth/api-key';
import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import { ensureOperatorKey } from '../../pipeline/shared/auth/bootstrap';
import { ChangeAuditQueryPrisma } from '../../pipeline/shared/change-audit/change-audit.prisma';
import { type HubCloudEvent, toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { createAuthProvider } from '../../pipeline/shared/delivery/auth-provider';
import { deliverOnce } from '../../pipeline/shared/delivery/deliver';
import { gateEndpointCheck } from '../../pipeline/shared/delivery/gate';
import { scheduledDelay } from '../../pipeline/shared/delivery/retry-schedule';
import { HttpSender } from '../../pipeline/shared/delivery/send.undici';
import type { HubApp } from '../../pipeline/shared/http/create-app';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import type { LedgerSink } from '../../pipeline/shared/ledger/ledger';
import { LedgerOutboxPrisma } from '../../pipeline/shared/ledger/ledger-outbox.prisma';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import type { FailureStore } from '../../pipeline/shared/parked/failure-store';
import { FailureStorePrisma } from '../../pipeline/shared/parked/failure-store.prisma';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DOMAINS, type Domain, HUB_HEADERS, type TopicNames, topicNames } from '../../pipeline/shared/topics';
import { createPrismaClient } from '../../prisma/client';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testKafka, uniqueName, waitFor } from '../support/kafka';
import { publishSubscription, type SubscriptionSpec } from '../support/subscriptions';

export function anEvent(tenant = 'tenant-a', o: Partial<HubCloudEvent> = {}): HubCloudEvent {
  return {
    specversion: '1.0',
    id: uniqueName('evt'),
    source: '//identity',
    type: 'user.created',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    extensions: { tenantid: tenant },
    data: Buffer.from('{"userId":"u1"}'),
    ...o,
  };
}

export async function startDltHarness(
  opts: {
    maxAttempts?: number;
    intervalMs?: number;
    baseDelayMs?: number;
    scheduler?: boolean;
    instances?: number;
    batchSize?: number;
    /** Wraps the store the DLT consumer writes through (to inject refusals). */
    consumerStore?: (store: FailureStore) => FailureStore;
    /** A test database made by the caller (shared with an outbox stage's lane store); dropped on stop. */
    db?: TestDatabase;
    /** The durable schedule (default `maxAttempts` steps of `baseDelayMs`). */
    schedule?: number[];
    /** Share topics and the secret box with another in-process stage (e.g. the outbox processor's). */
    stage?: { kafka: Kafka; topics: TopicNames; box: SecretBox };
    /** Serve the ledger API (events, deliveries, replay, recover), recording replays through this sink. */
    ledger?: LedgerSink;
    /** LOG_RETENTION_DAYS of the ledger API (default 14). */
    retentionDays?: number;
    /** Serve `GET /v1/stream` (its outbox topics are made here), with these settings over the defaults. */
    stream?: Partial<StreamDeps>;
    /** Wraps the stream's Kafka source (a test counting the readers it opens and closes). */
    wrapStreamSource?: (source: StreamSource) => StreamSource;
    /**
     * The ledger path as main.ts wires it: steps recorded with their ledger records (the ledger outbox), the ledger
     * relay to the ledger topic, the ledger writer into the ledger tables with the delivery facts (`all`).
     * `relayProducer` wraps the relay's producer (to make produces fail); `afterProduce` is the relay's crash hook.
     */
    ledgerOutbox?: { relayProducer?: (p: Producer) => Producer; afterProduce?: () => Promise<void> };
  } = {},
) {
  const db: TestDatabase = opts.db ?? (await createTestDatabase());
  const kafka = opts.stage?.kafka ?? testKafka('dlt-test');
  const topics = opts.stage?.topics ?? topicNames(uniqueName('hub'));
  if (!opts.stage) {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: topics.subscriptions, partitions: 1, compact: true },
      ...DOMAINS.map((d) => ({ topic: topics.dlt(d), partitions: 2 })),
      ...(opts.stream ? DOMAINS.map((d) => ({ topic: topics.outbox(d), partitions: 2 })) : []),
    ]);
    // Right after creation a partition may still answer "not the leader": wait until every one has a leader.
    await waitFor(
      async () => {
        for (const t of [topics.subscriptions, ...topics.allDlt()]) await admin.fetchTopicOffsets(t);
        return true;
      },
      { what: 'partition leaders' },
    );
    await admin.disconnect();
  }
  const log = pino({ level: 'silent' });
  if (opts.ledgerOutbox) {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(
      admin,
      [topics.ledger, ...Object.values(topics.facts)].map((topic) => ({ topic, partitions: 2 })),
    );
    await waitFor(
      async () => {
        for (const t of [topics.ledger, ...Object.values(topics.facts)]) await admin.fetchTopicOffsets(t);
        return true;
      },
      { what: 'ledger partition leaders' },
    );
    await admin.disconnect();
  }
  // Every store that records steps wakes the relay after a commit that wrote ledger records (as in main.ts).
  let relay: LedgerRelay | undefined;
  const storeOpts = opts.ledgerOutbox ? { onLedgerOutbox: () => relay?.nudge(), recordLedger: true } : {};
  const box = opts.stage?.box ?? new SecretBox(parseHubKeys(generateHubKeySpec('test')));
  const directory = await startSubscriptionDirectory({ kafka, topic: topics.subscriptions, log });
  await directory.ready();
  const store = new FailureStorePrisma(db.prisma, storeOpts);
  const metrics = createDltMetrics();
  const gauges = startStatusGauges({ metrics, store, intervalMs: 60_000, log });
  const sender = new HttpSender({ allowHosts: ['127.0.0.1'], headersTimeoutMs: 2000, totalTimeoutMs: 3000 });
  const open = (s: string, id: string) => box.open(s, id);
  const auth = createAuthProvider({ open, send: (r) => sender.send(r) });
  const audit = memoryAuditSink();
  const deliveriesBy = new Map<string, number>();
  const schedule = opts.schedule ?? Array(opts.maxAttempts ?? 3).fill(opts.baseDelayMs ?? 100);
  const scheduleFor = (sub: SubscriptionSnapshot | undefined) => sub?.retrySchedule ?? schedule;
  // One per instance, as main.ts makes one per process.
  const recoveryNotes: RecoveryNotes[] = [];
  const deps = (instanceId: string, own = store): RedeliveryDeps => ({
    store: own,
    recovery: recoveryNotes[recoveryNotes.push(createRecoveryNotes(own, { log })) - 1],
    directory,
    deliver: (e, s) => {
      deliveriesBy.set(instanceId, (deliveriesBy.get(instanceId) ?? 0) + 1);
      return deliverOnce(e, s, { sender, auth, open });
    },
    audit,
    log,
    instanceId,
    scheduleFor,
    retryAfterCapMs: 1000,
    endpointRejection: gateEndpointCheck(['127.0.0.1']),
    leaseMs: 30_000,
    onAttempt: (source, outcome) => metrics.redeliveries.inc({ source, outcome }),
    recordLedger: opts.ledgerOutbox !== undefined,
  });
  const redelivery = deps('api');
  const jobs = createReplayJobs(new ReplayJobStorePrisma(db.prisma), redelivery, 8);
  const ledgerApi = opts.ledger
    ? createLedgerApiDeps(db.prisma, { ...redelivery, ledger: opts.ledger }, { retentionDays: opts.retentionDays })
    : undefined;
  const apiKeys = new ApiKeyStorePrisma(db.prisma);
  const operatorKey = generateApiKey();
  await ensureOperatorKey(apiKeys, operatorKey);
  let consumerRef: { paused(): boolean } | undefined;
  // The console overview's figures, as main.ts wires them (the topics' prefix: what precedes ".subscriptions.v1").
  const statsAdmin = kafka.admin();
  await statsAdmin.connect();
  const overview: OverviewStats = {
    attemptsPerMinute: ledgerAttemptsPerMinute(db.prisma),
    lag: kafkaGroupLag(statsAdmin, topics.subscriptions.replace(/\.subscriptions\.v1$/, ''), [], 0),
  };
  const app: HubApp = await buildDltApi({
    logger: log,
    apiKeys,
    store,
    redelivery,
    jobs,
    ledger: ledgerApi,
    overview: ledgerApi ? overview : undefined,
    changeAudit: new ChangeAuditQueryPrisma(db.prisma),
    registry: metrics.registry,
    stream: opts.stream && {
      source: (opts.wrapStreamSource ?? ((x) => x))(kafkaStreamSource(kafka, uniqueName('dlt'), log)),
      topics,
      log,
      bufferBytes: 1024 * 1024,
      pingMs: 15_000,
      maxPerKey: 5,
      maxPerTenant: 20,
      ...opts.stream,
    },
    ready: () => ({ ready: consumerRef?.paused() === false, details: { dbPaused: consumerRef?.paused() ?? null } }),
  });
  const groupId = uniqueName('dlt');
  const consumer = await startDltConsumer({
    kafka,
    topics: topics.allDlt(),
    groupId,
    store: opts.consumerStore ? opts.consumerStore(store) : store,
    log,
    maxBackoffMs: 500,
    onPersisted: (n) => metrics.persisted.inc(n),
    firstDelay: opts.schedule
      ? (row) => scheduledDelay(scheduleFor(directory.get(row.subscriptionId)), 0, row.retryAfterMs, 1000)
      : undefined,
  });
  consumerRef = consumer;
  let ledgerProducer: Producer | undefined;
  let ledgerWriter: LedgerWriter | undefined;
  if (opts.ledgerOutbox) {
    ledgerProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
    await ledgerProducer.connect();
    relay = startLedgerRelay({
      outbox: new LedgerOutboxPrisma(db.prisma),
      producer: opts.ledgerOutbox.relayProducer?.(ledgerProducer) ?? ledgerProducer,
      topic: topics.ledger,
      log,
      maxBackoffMs: 500,
      metrics,
      afterProduce: opts.ledgerOutbox.afterProduce,
    });
    ledgerWriter = await startLedgerWriter({
      kafka,
      topic: topics.ledger,
      groupId: uniqueName('dlt-ledger'),
      store: new LedgerWriterStorePg(db.pool()),
      log,
      metrics,
      maxBackoffMs: 500,
      sessionTimeoutMs: 6000,
      facts: kafkaDeliveryFacts(ledgerProducer, topics.facts, { kind: 'all' }),
    });
  }
  // Each scheduler instance has its own connection pool, as separate processes would.
  const instancePrisma = Array.from({ length: opts.scheduler === false ? 0 : (opts.instances ?? 1) }, () =>
    createPrismaClient(db.url, { poolSize: 4 }),
  );
  const schedulers = instancePrisma.map((p, i) =>
    startScheduler({
      ...deps(`instance-${i}`, new FailureStorePrisma(p, storeOpts)),
      intervalMs: opts.intervalMs ?? 200,
      batchSize: opts.batchSize ?? 50,
      concurrency: 8,
    }),
  );
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();

  return {
    db,
    topics,
    store,
    app,
    audit,
    metrics,
    gauges,
    log,
    directory,
    producer,
    kafka,
    consumer,
    groupId,
    operatorKey,
    ledgerApi,
    /** With `ledgerOutbox`: the ledger relay. */
    relay,
    /** Instance ids that sent at least one request. */
    claimers: async () => new Set([...deliveriesBy].filter(([, n]) => n > 0).map(([id]) => id)),
    async tenantKey(tenantId: string): Promise<string> {
      const key = generateApiKey();
      await db.prisma.apiKey.create({
        data: {
          id: randomUUID(),
          name: 't',
          role: 'TENANT',
          tenantId,
          prefix: publicPrefix(key),
          hash: hashApiKey(key),
        },
      });
      return key;
    },
    subscribe: (s: SubscriptionSpec) =>
      publishSubscription({ producer, topic: topics.subscriptions, box, directory }, s),
    /** Produces a DLT record as the outbox processor does after its retries. */
    async deadLetter(
      event: HubCloudEvent,
      subscriptionId: string,
      o: {
        domain?: Domain;
        code?: string;
        status?: number;
        raw?: { value: Buffer | null; headers: Record<string, string> };
      } = {},
    ) {
      const domain = o.domain ?? 'user-lifecycle';
      const tenant = event.extensions.tenantid ?? 'tenant-a';
      const rec =
        o.raw ??
        toKafkaBinary(event, {
          [HUB_HEADERS.subscriptionId]: subscriptionId,
          [HUB_HEADERS.tenantId]: tenant,
          [HUB_HEADERS.domain]: domain,
          [HUB_HEADERS.dltAttempts]: '3',
          [HUB_HEADERS.dltLastStatus]: String(o.status ?? 500),
          [HUB_HEADERS.dltLastErrorCode]: o.code ?? 'DELIVERY.HTTP_500',
          [HUB_HEADERS.dltFirstAttemptAt]: new Date(Date.now() - 1000).toISOString(),
          [HUB_HEADERS.dltLastAttemptAt]: new Date().toISOString(),
        });
      await producer.send({
        topic: topics.dlt(domain),
        acks: -1,
        messages: [{ key: tenant, value: rec.value, headers: rec.headers }],
      });
    },
    /** Deletes a subscription the way subscription-api does: a tombstone on the changelog. */
    async unsubscribe(id: string) {
      await producer.send({ topic: topics.subscriptions, messages: [{ key: id, value: null }] });
      await waitFor(() => directory.get(id) === undefined, { what: `subscription ${id} gone from the directory` });
    },
    /** Many DLT records at once (batched produce), as a burst of dead letters would arrive. */
    async deadLetterMany(events: HubCloudEvent[], subscriptionId: string, code = 'DELIVERY.HTTP_410', status = 410) {
      const domain: Domain = 'user-lifecycle';
      for (let i = 0; i < events.length; i += 500) {
        await producer.send({
          topic: topics.dlt(domain),
          acks: -1,
          messages: events.slice(i, i + 500).map((event) => {
            const tenant = event.extensions.tenantid ?? 'tenant-a';
            const rec = toKafkaBinary(event, {
              [HUB_HEADERS.subscriptionId]: subscriptionId,
              [HUB_HEADERS.tenantId]: tenant,
              [HUB_HEADERS.domain]: domain,
              [HUB_HEADERS.dltAttempts]: '3',
              [HUB_HEADERS.dltLastStatus]: String(status),
              [HUB_HEADERS.dltLastErrorCode]: code,
              [HUB_HEADERS.dltFirstAttemptAt]: new Date(Date.now() - 1000).toISOString(),
              [HUB_HEADERS.dltLastAttemptAt]: new Date().toISOString(),
            });
            return { key: tenant, value: rec.value, headers: rec.headers };
          }),
        });
      }
    },
    async stop() {
      gauges.stop();
      for (const s of schedulers) await s.stop();
      await jobs.drain();
      await ledgerApi?.recoverJobs.drain();
      for (const n of recoveryNotes) await n.flush();
      for (const p of instancePrisma) await p.$disconnect();
      await consumer.stop();
      await relay?.stop();
      await ledgerWriter?.stop();
      await ledgerProducer?.disconnect();
      await producer.disconnect();
      await statsAdmin.disconnect();
      await app.close();
      await directory.stop();
      await sender.close();
      await db.drop();
    },
  };
}
export type DltHarness = Awaited<ReturnType<typeof startDltHarness>>;
