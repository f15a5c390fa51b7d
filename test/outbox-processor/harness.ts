/** Runs the outbox processor in-process against the real broker, with a test changelog and real subscribers. */
import { randomBytes } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { loadOutboxConfig } from '../../pipeline/outbox-processor/config';
import type { DeliveryOutcome, OutboxItem } from '../../pipeline/outbox-processor/handler';
import { startOutboxProcessor } from '../../pipeline/outbox-processor/main';
import type { OutboxMetrics } from '../../pipeline/outbox-processor/metrics';
import { memoryAuditSink } from '../../pipeline/shared/audit/audit';
import { type HubCloudEvent, toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import type { BreakerOptions, BreakerRegistry } from '../../pipeline/shared/delivery/circuit-breaker';
import type { SenderOptions } from '../../pipeline/shared/delivery/send';
import type { HttpSender } from '../../pipeline/shared/delivery/send.undici';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import type { FailureStore } from '../../pipeline/shared/parked/failure-store';
import type { SubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DOMAINS, type Domain, HUB_HEADERS, type TopicNames, topicNames } from '../../pipeline/shared/topics';
import { brokers, type ConsumedRecord, testKafka, uniqueName, waitFor } from '../support/kafka';
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
  /** MAX_IN_FLIGHT_BYTES (default: the service's). */
  maxInFlightBytes?: number;
  /** Wraps the delivery handler (to inject an unexpected rejection). */
  wrapHandle?: (
    handle: (item: OutboxItem) => Promise<DeliveryOutcome>,
  ) => (item: OutboxItem) => Promise<DeliveryOutcome>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const stage = await startStage();
  const { topics, box } = stage;
  const groupId = uniqueName('outbox');
  const breaker = {
    windowMs: 10_000,
    minRequests: 20,
    failureRatio: 0.5,
    openMs: 1000,
    halfOpenProbes: 1,
    ...opts.breaker,
  };
  const sender = { headersTimeoutMs: 2000, bodyTimeoutMs: 2000, totalTimeoutMs: 3000, ...opts.sender };
  // The service as production wires it (main.ts), configured through its own schema; the hooks only add what the
  // environment cannot say (a memory audit sink, a DNS lookup, test lanes) and a probe around each attempt.
  const config = loadOutboxConfig({
    KAFKA_BROKERS: brokers().join(','),
    KAFKA_CLIENT_ID: groupId,
    TOPIC_PREFIX: stage.prefix,
    GROUP_ID: groupId,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    HUB_ENCRYPTION_KEYS: stage.keySpec,
    DATABASE_URL: 'postgresql://unused', // lanes come from the hooks
    LEDGER_ENABLED: 'false',
    ENDPOINT_ALLOW_HOSTS: (opts.sender?.allowHosts ?? ['127.0.0.1', 'localhost']).join(','),
    MAX_ATTEMPTS: String(opts.maxAttempts ?? 3),
    RETRY_BASE_MS: String(opts.baseDelayMs ?? 50),
    RETRY_MAX_MS: String(opts.maxDelayMs ?? 5000),
    RETRY_MAX_TOTAL_MS: '30000',
    RETRY_AFTER_MAX_MS: '1000',
    ORDERED_LANE_QUEUE: opts.orderedLaneQueue === undefined ? undefined : String(opts.orderedLaneQueue),
    MAX_IN_FLIGHT: '500',
    MAX_IN_FLIGHT_BYTES: opts.maxInFlightBytes === undefined ? undefined : String(opts.maxInFlightBytes),
    MAX_IN_FLIGHT_PER_PARTITION: String(opts.maxInFlightPerPartition ?? 200),
    PER_ENDPOINT_CONCURRENCY: String(opts.perEndpointConcurrency ?? 8),
    PER_ENDPOINT_QUEUE: String(opts.perEndpointQueue ?? 1000),
    PARTITIONS_CONCURRENTLY: '3',
    COMMIT_INTERVAL_MS: '100',
    HEADERS_TIMEOUT_MS: String(sender.headersTimeoutMs),
    BODY_TIMEOUT_MS: String(sender.bodyTimeoutMs),
    REQUEST_TIMEOUT_MS: String(sender.totalTimeoutMs),
    BREAKER_WINDOW_MS: String(breaker.windowMs),
    BREAKER_MIN_REQUESTS: String(breaker.minRequests),
    BREAKER_FAILURE_RATIO: String(breaker.failureRatio),
    BREAKER_OPEN_MS: String(breaker.openMs),
    BREAKER_HALF_OPEN_PROBES: String(breaker.halfOpenProbes),
    SHUTDOWN_GRACE_MS: '2000',
  });
  const audit = memoryAuditSink();
  const openAttempts = new Map<string, { now: number; max: number }>();
  const hub = await startOutboxProcessor(config, pino({ level: 'silent' }), {
    audit,
    lanes: opts.lanes ?? null,
    sender: opts.sender,
    wrapHandle: opts.wrapHandle,
    laneStallMs: opts.laneStallMs,
    // Sub-second steps, which DELIVERY_RETRY_SCHEDULE refuses.
    retrySchedule: opts.schedule ?? [1000, 1000, 1000],
    wrapDeliver: (deliver) => async (e, s) => {
      const o = openAttempts.get(s.endpointUrl) ?? { now: 0, max: 0 };
      openAttempts.set(s.endpointUrl, o);
      o.max = Math.max(o.max, ++o.now);
      try {
        return await deliver(e, s);
      } finally {
        o.now--;
      }
    },
  });
  const { directory } = hub;

  return {
    ...stage,
    audit,
    breakers: hub.breakers,
    metrics: hub.metrics,
    sender: hub.sender,
    directory,
    groupId,
    subscribe: (s) => publishSubscription({ producer: stage.producer, topic: topics.subscriptions, box, directory }, s),
    maxOpenAttempts: (url) => openAttempts.get(url)?.max ?? 0,
    async stop() {
      await hub.stop();
      await stage.stop();
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
