/** Runs the outbox processor in-process against the real broker, with a test changelog and real subscribers. */
import { randomBytes } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { createDeliveryHandler, type DeliveryOutcome, type OutboxItem } from '../../pipeline/outbox-processor/handler';
import { createOutboxMetrics, type OutboxMetrics } from '../../pipeline/outbox-processor/metrics';
import { startOutboxConsumer } from '../../pipeline/outbox-processor/outbox.kafka';
import { memoryAuditSink } from '../../pipeline/shared/audit/audit';
import { type HubCloudEvent, toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { createAuthProvider } from '../../pipeline/shared/delivery/auth-provider';
import { type BreakerOptions, BreakerRegistry } from '../../pipeline/shared/delivery/circuit-breaker';
import { deliverOnce } from '../../pipeline/shared/delivery/deliver';
import { gateEndpointCheck } from '../../pipeline/shared/delivery/gate';
import type { SenderOptions } from '../../pipeline/shared/delivery/send';
import { HttpSender } from '../../pipeline/shared/delivery/send.undici';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import type { FailureStore } from '../../pipeline/shared/parked/failure-store';
import type { SubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DOMAINS, type Domain, HUB_HEADERS, type TopicNames, topicNames } from '../../pipeline/shared/topics';
import { type ConsumedRecord, testKafka, uniqueName, waitFor } from '../support/kafka';
import { publishSubscription, type SubscriptionSpec, whsec } from '../support/subscriptions';

export { whsec };

export function anEvent(o: Partial<HubCloudEvent> = {}): HubCloudEvent {
  return {
    specversion: '1.0',
    id: uniqueName('evt'),
    source: '//identity',
    type: 'user.created',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    extensions: {
      tenantid: 'tenant-a',
      traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    },
    data: Buffer.from(JSON.stringify({ userId: 'u1', email: 'u1@example.com' })),
    ...o,
  };
}

/** The outbox record the event-processor would produce for (event, subscription). */
export function outboxRecord(event: HubCloudEvent, subscriptionId: string, domain: Domain = 'user-lifecycle') {
  const tenant = event.extensions.tenantid ?? 'tenant-a';
  const { headers, value } = toKafkaBinary(event, {
    [HUB_HEADERS.subscriptionId]: subscriptionId,
    [HUB_HEADERS.tenantId]: tenant,
    [HUB_HEADERS.domain]: domain,
  });
  return { key: tenant, value, headers };
}

/** Topics, changelog, secret box and a producer: what both the in-process harness and a child process share. */
export interface Stage {
  kafka: Kafka;
  prefix: string;
  topics: TopicNames;
  box: SecretBox;
  /** The HUB_ENCRYPTION_KEYS value the box was made from (for a child process). */
  keySpec: string;
  producer: Producer;
  publish(event: HubCloudEvent, subscriptionId: string, domain?: Domain): Promise<void>;
  stop(): Promise<void>;
}

export async function startStage(opts: { outboxPartitions?: number } = {}): Promise<Stage> {
  const kafka = testKafka('outbox-test');
  const prefix = uniqueName('hub');
  const topics = topicNames(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: topics.subscriptions, partitions: 1, compact: true },
    { topic: topics.audit, partitions: 1 },
    ...DOMAINS.flatMap((d) => [
      { topic: topics.outbox(d), partitions: opts.outboxPartitions ?? 3 },
      { topic: topics.dlt(d), partitions: 1 },
    ]),
  ]);
  // createTopics waits for leaders, yet right after creation the broker may still answer "not the leader" for a
  // moment: wait until every topic answers a ListOffsets (the directory's first call) before going on.
  await waitFor(
    async () => {
      for (const t of [topics.subscriptions, ...topics.allOutbox(), ...topics.allDlt()])
        await admin.fetchTopicOffsets(t);
      return true;
    },
    { what: 'topic leaders', timeoutMs: 20_000, intervalMs: 200 },
  );
  await admin.disconnect();
  const keySpec = generateHubKeySpec('test');
  const box = new SecretBox(parseHubKeys(keySpec));
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  return {
    kafka,
    prefix,
    topics,
    box,
    keySpec,
    producer,
    async publish(event, subscriptionId, domain = 'user-lifecycle') {
      await producer.send({
        topic: topics.outbox(domain),
        acks: -1,
        messages: [outboxRecord(event, subscriptionId, domain)],
      });
    },
    stop: () => producer.disconnect(),
  };
}

export interface Harness extends Stage {
  audit: ReturnType<typeof memoryAuditSink>;
  breakers: BreakerRegistry;
  metrics: OutboxMetrics;
  sender: HttpSender;
  directory: SubscriptionDirectory;
  /** The outbox consumer group. */
  groupId: string;
  /** Seals the given plaintext secrets into a snapshot and publishes it on the changelog; waits for the directory. */
  subscribe(s: SubscriptionSpec): Promise<SubscriptionSnapshot>;
  /**
   * The most HTTP attempts the hub had open at once per endpoint URL, as the hub sees them (from the start of an
   * attempt until its response or timeout): what the per-endpoint concurrency cap bounds.
   */
  maxOpenAttempts(endpointUrl: string): number;
}

export interface HarnessOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sender?: Partial<SenderOptions>;
  breaker?: Partial<BreakerOptions>;
  perEndpointConcurrency?: number;
  perEndpointQueue?: number;
  /** Where ordered lanes are parked (the dlt-processor's store on the same test database). */
  lanes?: FailureStore;
  /** The durable schedule parked lane heads start on (default 1 s steps). */
  schedule?: number[];
  orderedLaneQueue?: number;
  laneStallMs?: number;
  maxInFlightPerPartition?: number;
  /** Wraps the delivery handler (to inject an unexpected rejection). */
  wrapHandle?: (
    handle: (item: OutboxItem) => Promise<DeliveryOutcome>,
  ) => (item: OutboxItem) => Promise<DeliveryOutcome>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const stage = await startStage();
  const { kafka, topics, box } = stage;
  const log = pino({ level: 'silent' });
  const directory = await startSubscriptionDirectory({ kafka, topic: topics.subscriptions, log });
  await directory.ready();
  const sender = new HttpSender({
    allowHosts: ['127.0.0.1', 'localhost'],
    headersTimeoutMs: 2000,
    bodyTimeoutMs: 2000,
    totalTimeoutMs: 3000,
    ...opts.sender,
  });
  const open = (s: string, id: string) => box.open(s, id);
  const auth = createAuthProvider({ open, send: (r) => sender.send(r) });
  const audit = memoryAuditSink();
  const breakers = new BreakerRegistry({
    windowMs: 10_000,
    minRequests: 1000,
    failureRatio: 0.5,
    openMs: 1000,
    halfOpenProbes: 1,
    ...opts.breaker,
  });
  const shutdown = new AbortController();
  const metrics = createOutboxMetrics();
  const openAttempts = new Map<string, { now: number; max: number }>();
  const endpointRejection = gateEndpointCheck(opts.sender?.allowHosts ?? ['127.0.0.1', 'localhost']);
  const handle = createDeliveryHandler({
    directory,
    endpointRejection,
    deliver: async (e, s) => {
      const o = openAttempts.get(s.endpointUrl) ?? { now: 0, max: 0 };
      openAttempts.set(s.endpointUrl, o);
      o.max = Math.max(o.max, ++o.now);
      try {
        return await deliverOnce(e, s, { sender, auth, open });
      } finally {
        o.now--;
      }
    },
    policy: {
      maxAttempts: opts.maxAttempts ?? 3,
      baseDelayMs: opts.baseDelayMs ?? 50,
      maxDelayMs: opts.maxDelayMs ?? 5000,
      maxTotalMs: 30_000,
    },
    breakerFor: (url) => breakers.for(url),
    audit,
    signal: shutdown.signal,
  });
  const groupId = uniqueName('outbox');
  const consumer = await startOutboxConsumer({
    kafka,
    topics,
    groupId,
    directory,
    endpointRejection,
    handle: opts.wrapHandle ? opts.wrapHandle(handle) : handle,
    lanes: opts.lanes,
    scheduleFor: (sub) => sub.retrySchedule ?? opts.schedule ?? [1000, 1000, 1000],
    retryAfterCapMs: 1000,
    orderedLaneQueue: opts.orderedLaneQueue,
    laneStallMs: opts.laneStallMs,
    breakerOpen: (url) => breakers.isOpen(url),
    shutdown,
    log,
    metrics,
    maxInFlight: 500,
    maxInFlightPerPartition: opts.maxInFlightPerPartition ?? 200,
    perEndpointConcurrency: opts.perEndpointConcurrency ?? 8,
    perEndpointQueue: opts.perEndpointQueue ?? 1000,
    partitionsConsumedConcurrently: 3,
    commitIntervalMs: 100,
  });

  return {
    ...stage,
    audit,
    breakers,
    metrics,
    sender,
    directory,
    groupId,
    subscribe: (s) => publishSubscription({ producer: stage.producer, topic: topics.subscriptions, box, directory }, s),
    maxOpenAttempts: (url) => openAttempts.get(url)?.max ?? 0,
    async stop() {
      await consumer.stop(2000);
      await stage.stop();
      await directory.stop();
      await sender.close();
    },
  };
}

/** Reads all DLT topics from the beginning until `count` records of `subscriptionId` arrived. */
export async function dltRecordsOf(
  hub: Pick<Stage, 'topics'>,
  subscriptionId: string,
  count: number,
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<ConsumedRecord[]> {
  const kafka = testKafka('dlt-reader');
  const consumer = kafka.consumer({ groupId: uniqueName('dlt-reader'), maxWaitTimeInMs: 100 });
  const records: ConsumedRecord[] = [];
  let lastAt = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: hub.topics.allDlt(), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) {
          const first = Array.isArray(v) ? v[0] : v;
          if (first !== undefined) headers[k] = first.toString();
        }
        if (headers[HUB_HEADERS.subscriptionId] !== subscriptionId) return;
        records.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers,
        });
        lastAt = Date.now();
      },
    });
    await waitFor(() => records.length >= count && Date.now() - lastAt >= (opts.settleMs ?? 0), {
      timeoutMs: opts.timeoutMs ?? 20_000,
      what: `${count} DLT records of ${subscriptionId} (got ${records.length})`,
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
