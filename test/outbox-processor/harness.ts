/** Runs the outbox processor in-process against the real broker, with a test changelog and real subscribers. */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import pino from 'pino';
import { createDeliveryHandler } from '../../pipeline/outbox-processor/handler';
import { createOutboxMetrics } from '../../pipeline/outbox-processor/metrics';
import { startOutboxConsumer } from '../../pipeline/outbox-processor/outbox.kafka';
import { memoryAuditSink } from '../../pipeline/shared/audit/audit';
import { type HubCloudEvent, toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { createAuthProvider } from '../../pipeline/shared/delivery/auth-provider';
import { CircuitBreaker } from '../../pipeline/shared/delivery/circuit-breaker';
import { deliverOnce } from '../../pipeline/shared/delivery/deliver';
import { HttpSender, type SenderOptions } from '../../pipeline/shared/delivery/send';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DOMAINS, type Domain, HUB_HEADERS, topicNames } from '../../pipeline/shared/topics';
import { testKafka, uniqueName } from '../support/kafka';
import { publishSubscription, whsec } from '../support/subscriptions';

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

export interface Harness {
  kafka: Kafka;
  prefix: string;
  box: SecretBox;
  audit: ReturnType<typeof memoryAuditSink>;
  topics: ReturnType<typeof topicNames>;
  /** Seals the given plaintext secrets into a snapshot and publishes it on the changelog; waits for the directory. */
  subscribe(
    s: Partial<SubscriptionSnapshot> & {
      plainAuth?: Record<string, string>;
      signingSecret?: string;
      previousSecret?: string;
    },
  ): Promise<SubscriptionSnapshot>;
  publish(event: HubCloudEvent, subscriptionId: string, domain?: Domain): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(
  opts: {
    maxAttempts?: number;
    baseDelayMs?: number;
    sender?: Partial<SenderOptions>;
    breaker?: { minRequests: number; openMs: number };
  } = {},
): Promise<Harness> {
  const kafka = testKafka('outbox-test');
  const prefix = uniqueName('hub');
  const topics = topicNames(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: topics.subscriptions, partitions: 1, compact: true },
    { topic: topics.audit, partitions: 1 },
    ...DOMAINS.flatMap((d) => [
      { topic: topics.outbox(d), partitions: 3 },
      { topic: topics.dlt(d), partitions: 1 },
    ]),
  ]);
  await admin.disconnect();
  const log = pino({ level: 'silent' });
  const box = new SecretBox(parseHubKeys(generateHubKeySpec('test')));
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
  const breakers = new Map<string, CircuitBreaker>();
  const handle = createDeliveryHandler({
    directory,
    deliver: (e, s) => deliverOnce(e, s, { sender, auth, open }),
    policy: {
      maxAttempts: opts.maxAttempts ?? 3,
      baseDelayMs: opts.baseDelayMs ?? 50,
      maxDelayMs: 5000,
      maxTotalMs: 30_000,
    },
    breakerFor: (url) => {
      let b = breakers.get(url);
      if (!b) {
        b = new CircuitBreaker({
          windowMs: 10_000,
          minRequests: opts.breaker?.minRequests ?? 1000,
          failureRatio: 0.5,
          openMs: opts.breaker?.openMs ?? 1000,
          halfOpenProbes: 1,
        });
        breakers.set(url, b);
      }
      return b;
    },
    audit,
  });
  const consumer = await startOutboxConsumer({
    kafka,
    topics,
    groupId: uniqueName('outbox'),
    directory,
    handle,
    log,
    metrics: createOutboxMetrics(),
    maxInFlight: 500,
    perEndpointConcurrency: 8,
    perEndpointQueue: 1000,
    partitionsConsumedConcurrently: 3,
    commitIntervalMs: 100,
  });
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();

  return {
    kafka,
    prefix,
    box,
    audit,
    topics,
    subscribe: (s) => publishSubscription({ producer, topic: topics.subscriptions, box, directory }, s),
    async publish(event, subscriptionId, domain = 'user-lifecycle') {
      const tenant = event.extensions.tenantid ?? 'tenant-a';
      const { headers, value } = toKafkaBinary(event, {
        [HUB_HEADERS.subscriptionId]: subscriptionId,
        [HUB_HEADERS.tenantId]: tenant,
        [HUB_HEADERS.domain]: domain,
      });
      await producer.send({ topic: topics.outbox(domain), acks: -1, messages: [{ key: tenant, value, headers }] });
    },
    async stop() {
      await consumer.stop(2000);
      await producer.disconnect();
      await directory.stop();
      await sender.close();
    },
  };
}
