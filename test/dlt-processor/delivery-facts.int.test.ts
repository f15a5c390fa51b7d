/**
 * Delivery-side facts (issue 18) on the real broker and Postgres: the ledger writer turns each DELIVERED delivery
 * record into one WebhookDelivered fact and each FAILED one into one IntegrationFailed fact (with its reason), valid
 * against their schemas and carrying the cs-* headers, produced before the ledger offset commits. A writer that dies
 * between the produce and the commit reads the batch again: duplicates carry the same ids, nothing is lost.
 * FACTS_DELIVERED=none keeps the failures only.
 */
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { kafkaDeliveryFacts } from '../../pipeline/dlt-processor/fact-producer.kafka';
import { type LedgerWriter, startLedgerWriter } from '../../pipeline/dlt-processor/ledger-writer.kafka';
import { type DeliveredFactsMode, FACT_TYPES, type FactCloudEvent } from '../../pipeline/shared/facts/fact';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { encodeLedgerBundle, encodeLedgerRecord, type LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { topicNames } from '../../pipeline/shared/topics';
import { anEventWithDeliveries, LEDGER_TRACE } from '../fixtures/ledger-records';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { validateFact } from '../support/fact-schemas';
import { type ConsumedRecord, consumeAll, recordsIn, testKafka, uniqueName, waitFor } from '../support/kafka';

jest.setTimeout(90_000);

const TRACE = LEDGER_TRACE;

describe('delivery facts', () => {
  let db: TestDatabase;
  let kafka: Kafka;
  let producer: Producer;
  const writers: LedgerWriter[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    kafka = testKafka('delivery-facts-test');
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
  });
  afterAll(async () => {
    for (const w of writers) await w.stop();
    await producer?.disconnect();
    await db?.drop();
  });

  /** A ledger topic and facts topics of their own, and a writer over them. */
  async function setup(mode: DeliveredFactsMode, afterFacts?: () => Promise<void>) {
    const topics = topicNames(uniqueName('facts'));
    const factTopics = Object.values(topics.facts);
    await ensureTopics(
      kafka,
      [topics.ledger, ...factTopics].map((topic) => ({ topic, partitions: 2 })),
    );
    const groupId = uniqueName('ledger');
    const writer = await startLedgerWriter({
      kafka,
      topic: topics.ledger,
      groupId,
      store: new LedgerWriterStorePg(db.pool()),
      log: pino({ level: 'silent' }),
      maxBackoffMs: 200,
      facts: kafkaDeliveryFacts(producer, topics.facts, mode),
      afterFacts,
    });
    writers.push(writer);
    const send = (bundles: LedgerRecord[][]) =>
      producer.send({
        topic: topics.ledger,
        acks: -1,
        messages: bundles.map((b) => ({ key: b[0]!.tenantId, value: encodeLedgerBundle(b.map(encodeLedgerRecord)) })),
      });
    /** Every fact, once the writer committed the whole ledger topic (the commit follows the acked facts). */
    const facts = async (): Promise<ConsumedRecord[]> => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const ends = await admin.fetchTopicOffsets(topics.ledger);
        await waitFor(
          async () => {
            const [c] = await admin.fetchOffsets({ groupId, topics: [topics.ledger] });
            return ends.every(
              (e) => e.offset === '0' || c!.partitions.find((p) => p.partition === e.partition)?.offset === e.offset,
            );
          },
          { what: 'the ledger topic committed to its end', timeoutMs: 30_000 },
        );
      } finally {
        await admin.disconnect();
      }
      return consumeAll(factTopics, { count: await recordsIn(factTopics) });
    };
    return { topics, send, facts };
  }

  function parse(r: ConsumedRecord): FactCloudEvent {
    const event = JSON.parse(r.value!.toString('utf8')) as FactCloudEvent;
    expect(validateFact(event)).toEqual([]);
    expect(r.key).toBe(event.data.tenantId);
    expect(r.headers).toMatchObject({
      'cs-event-type': event.type,
      'cs-tenant-id': event.data.tenantId,
      'cs-trace-id': TRACE,
      'cs-correlation-id': event.data.correlationId,
      'cs-schema-version': '1',
    });
    return event;
  }

  const deliveryKey = (e: FactCloudEvent) => `${e.data.payload.webhookEventId}/${e.data.payload.subscriptionId}`;

  it('one WebhookDelivered per delivery, one IntegrationFailed per failure, none for a retry; redelivery = same id', async () => {
    const t = await setup({ kind: 'all' });
    const bundles = Array.from({ length: 20 }, (_, i) =>
      anEventWithDeliveries(`tenant-${i % 3}`, ['DELIVERED', 'FAILED', 'RETRYING']),
    );
    await t.send(bundles);
    await t.send([bundles[0]!]); // the same records again (a processor's retried produce)
    const events = (await t.facts()).map(parse);

    const delivered = events.filter((e) => e.type === FACT_TYPES.delivered);
    const failed = events.filter((e) => e.type === FACT_TYPES.failed);
    expect(events).toHaveLength(delivered.length + failed.length);
    // exactly once per cause, except the redelivered bundle: twice, with the same ids and the same content
    expect(new Set(delivered.map(deliveryKey)).size).toBe(20);
    expect(new Set(failed.map(deliveryKey)).size).toBe(20);
    expect(new Set(events.map((e) => e.id)).size).toBe(40);
    expect(events).toHaveLength(42);
    const again = events.filter((e) => e.data.payload.webhookEventId === bundles[0]![0]!.eventId);
    expect(again).toHaveLength(4);
    expect(new Set(again.map((e) => JSON.stringify(e))).size).toBe(2);

    for (const f of failed)
      expect(f.data.payload).toMatchObject({
        reason: 'DELIVERY.HTTP_4XX: the subscriber answered 410',
        code: 'DELIVERY.HTTP_4XX',
      });
    // linked to the delivered event: its id correlates, its trace carries on
    for (const e of events) {
      expect(e.data.correlationId).toBe(e.data.payload.webhookEventId);
      expect(e.traceparent.split('-')[1]).toBe(TRACE);
    }
  });

  it('a writer that dies after the produce and before the commit produces the batch again: same ids, none lost', async () => {
    let crashes = 0;
    const t = await setup({ kind: 'all' }, async () => {
      if (crashes++ < 2) throw new Error('killed before the commit');
    });
    const bundles = Array.from({ length: 10 }, (_, i) =>
      anEventWithDeliveries(`tenant-${i % 2}`, ['DELIVERED', 'FAILED']),
    );
    await t.send(bundles);
    const events = (await t.facts()).map(parse);
    expect(crashes).toBeGreaterThan(2);
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(20);
    expect(events.length).toBeGreaterThan(20);
    const byId = new Map<string, string>();
    for (const e of events) {
      const s = JSON.stringify(e);
      expect(byId.get(e.id) ?? s).toBe(s);
      byId.set(e.id, s);
    }
    expect(
      await db.prisma.ledgerDelivery.count({ where: { eventId: { in: bundles.map((b) => b[0]!.eventId) } } }),
    ).toBe(20);
  });

  it('FACTS_DELIVERED=none: failures only', async () => {
    const t = await setup({ kind: 'none' });
    await t.send(Array.from({ length: 5 }, () => anEventWithDeliveries('tenant-n', ['DELIVERED', 'FAILED'])));
    const events = (await t.facts()).map(parse);
    expect(events.map((e) => e.type)).toEqual(Array(5).fill(FACT_TYPES.failed));
  });
});
