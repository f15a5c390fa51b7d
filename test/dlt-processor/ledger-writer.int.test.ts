/**
 * The ledger writer on the real broker and a fresh database: `<prefix>.ledger.v1` -> LedgerEvent, LedgerDelivery,
 * LedgerAttempt. Redelivered records write nothing twice, the latest delivery state wins whatever the arrival
 * order, attempts are counted from their rows, a record that is not one is skipped (never a stuck partition),
 * offsets are committed after the write, day partitions are made on demand and dropped by retention.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { type LedgerWriter, startLedgerWriter } from '../../pipeline/dlt-processor/ledger-writer.kafka';
import { createDltMetrics, type DltMetrics } from '../../pipeline/dlt-processor/metrics';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { encodeLedgerEventHeader, LEDGER_EVENT_HEADER } from '../../pipeline/shared/ledger/ledger-from-outbox';
import {
  encodeLedgerRecord,
  type LedgerAttempt,
  type LedgerEvent,
  type LedgerRecord,
} from '../../pipeline/shared/ledger/ledger-record';
import type { LedgerWriterStore } from '../../pipeline/shared/ledger/ledger-store';
import { partitionName, utcDay } from '../../pipeline/shared/ledger/ledger-store';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { topicNames } from '../../pipeline/shared/topics';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testKafka, uniqueName, waitFor } from '../support/kafka';
import { aDelivery } from '../support/ledger-records';

jest.setTimeout(90_000);

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

function anEvent(tenantId: string, receivedAtMs: number, subscriptionIds: string[], o: Partial<LedgerEvent> = {}) {
  return {
    kind: 'event',
    at: iso(receivedAtMs + 5),
    eventId: uniqueName('evt'),
    tenantId,
    type: 'user.created',
    source: '//identity',
    subject: 'u1',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
    domain: 'user-lifecycle',
    traceId: 'trace-1',
    receivedAt: iso(receivedAtMs),
    ingest: { topic: 'platform.events.v1', partition: 0, offset: '42' },
    subscriptionIds,
    payload: {
      headers: { ce_id: 'x', ce_type: 'user.created' },
      body: Buffer.from('{"userId":"u1"}').toString('base64'),
    },
    ...o,
  } satisfies LedgerEvent;
}
const anAttempt = (e: LedgerEvent, subscriptionId: string, atMs: number, o: Partial<LedgerAttempt> = {}) =>
  ({
    kind: 'attempt',
    at: iso(atMs),
    attemptId: randomUUID(),
    eventId: e.eventId,
    tenantId: e.tenantId,
    subscriptionId,
    receivedAt: e.receivedAt,
    source: 'OUTBOX',
    attempt: 1,
    durationMs: 12,
    statusCode: 200,
    errorCode: null,
    responseSnippet: null,
    ...o,
  }) satisfies LedgerAttempt;
const metricValue = async (m: { get(): Promise<{ values: { value: number; labels: object }[] }> }, labels = {}) =>
  (await m.get()).values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;

describe('ledger writer', () => {
  let db: TestDatabase;
  let kafka: Kafka;
  let producer: Producer;
  let store: LedgerWriterStorePg;
  let metrics: DltMetrics;
  let writer: LedgerWriter;
  let topic: string;
  /** An outbox topic: the writer reads events from it as the event-processor writes them (ledger-from-outbox.ts). */
  let outboxTopic: string;
  let groupId: string;
  /** Flip to make the store behave as if Postgres were away. */
  let away = false;
  /** Pings refused while away: the probe loop is running (a positive sentinel for "still paused"). */
  let refusedPings = 0;

  const send = (records: (LedgerRecord | { key: string; value: Buffer })[]) =>
    producer.send({
      topic,
      acks: -1,
      messages: records.map((r) =>
        'kind' in r ? { key: r.tenantId, value: encodeLedgerRecord(r) } : { key: r.key, value: r.value },
      ),
    });
  const event = (eventId: string) => db.prisma.ledgerEvent.findFirst({ where: { eventId } });
  const deliveries = (eventId: string) =>
    db.prisma.ledgerDelivery.findMany({ where: { eventId }, orderBy: { subscriptionId: 'asc' } });
  const partitions = async () =>
    (
      await db.prisma.$queryRaw<{ name: string }[]>`
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('LedgerEvent', 'LedgerDelivery', 'LedgerAttempt')`
    )
      .map((r) => r.name)
      .sort();

  beforeAll(async () => {
    db = await createTestDatabase();
    kafka = testKafka('ledger-test');
    const names = topicNames(uniqueName('hub'));
    topic = names.ledger;
    outboxTopic = names.outbox('user-lifecycle');
    await ensureTopics(kafka, [
      { topic, partitions: 2 },
      { topic: outboxTopic, partitions: 2 },
    ]);
    const admin = kafka.admin();
    await admin.connect();
    await waitFor(() => admin.fetchTopicOffsets(topic).then(() => true), { what: 'partition leaders' });
    await waitFor(() => admin.fetchTopicOffsets(outboxTopic).then(() => true), { what: 'partition leaders' });
    await admin.disconnect();
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
    store = new LedgerWriterStorePg(db.pool());
    const faulty: LedgerWriterStore = {
      write: (r) => (away ? Promise.reject(new Error('connect ECONNREFUSED')) : store.write(r)),
      ensureDays: (d) => store.ensureDays(d),
      dropPartitionsBefore: (d) => store.dropPartitionsBefore(d),
      ping: () => {
        if (!away) return store.ping();
        refusedPings++;
        return Promise.reject(new Error('connect ECONNREFUSED'));
      },
    };
    metrics = createDltMetrics();
    groupId = uniqueName('ledger');
    writer = await startLedgerWriter({
      kafka,
      topic,
      outboxTopics: [outboxTopic],
      groupId,
      store: faulty,
      log: pino({ level: 'silent' }),
      metrics,
      maxBackoffMs: 300,
    });
  });
  afterAll(async () => {
    await writer?.stop();
    await producer?.disconnect();
    await db?.drop();
  });

  it("makes today's and tomorrow's partitions at start", async () => {
    const today = utcDay(new Date());
    const tomorrow = utcDay(new Date(Date.now() + DAY_MS));
    expect(await partitions()).toEqual(
      expect.arrayContaining([
        partitionName('LedgerEvent', today),
        partitionName('LedgerDelivery', today),
        partitionName('LedgerAttempt', today),
        partitionName('LedgerEvent', tomorrow),
        partitionName('LedgerAttempt', tomorrow),
      ]),
    );
  });

  it('writes every row once: redelivered records, out-of-order states, attempts counted, garbage skipped', async () => {
    const tenant = 'tenant-a';
    const t0 = Date.now() - 60_000;
    const e1 = anEvent(tenant, t0, ['sub-1', 'sub-2', 'sub-3']);
    const a1 = anAttempt(e1, 'sub-1', t0 + 100, { statusCode: 503, errorCode: 'DELIVERY.HTTP_503' });
    const a2 = anAttempt(e1, 'sub-1', t0 + 200, { attempt: 2, statusCode: 200 });
    const a3 = anAttempt(e1, 'sub-2', t0 + 150, { statusCode: null, errorCode: 'DELIVERY.TIMEOUT' });
    const d1Retrying = aDelivery(e1, 'sub-1', t0 + 110, {
      status: 'RETRYING',
      lastStatusCode: 503,
      reason: 'HTTP 503',
      nextAttemptAt: iso(t0 + 190),
    });
    const d1Delivered = aDelivery(e1, 'sub-1', t0 + 210);
    const d2Retrying = aDelivery(e1, 'sub-2', t0 + 160, {
      status: 'RETRYING',
      lastStatusCode: null,
      reason: 'timeout',
      nextAttemptAt: iso(t0 + 60_000),
    });
    // e2: its delivery record arrives before its event record.
    const e2 = anEvent(tenant, t0 + 1000, ['sub-1']);
    const d2First = aDelivery(e2, 'sub-1', t0 + 1200, { status: 'FAILED', reason: 'HTTP 410', lastStatusCode: 410 });
    const sentinel1 = anEvent(tenant, t0 + 2000, []);

    // Round 1, in one send (one batch): duplicates within the batch, and the two sub-1 states out of order.
    await send([e1, a1, d1Delivered, a1, a2, d1Retrying, a3, d2Retrying, d2First, sentinel1]);
    await waitFor(() => event(sentinel1.eventId), { what: 'sentinel 1' });

    // Round 2: everything again (a consumer that crashed before committing), plus an older sub-2 state, e2's event
    // record (late), garbage and a record that is JSON but not a ledger record, and the sentinel last.
    const sentinel2 = anEvent(tenant, t0 + 3000, ['sub-9']);
    const d2Older = aDelivery(e1, 'sub-2', t0 + 155, { status: 'PENDING', reason: 'older' });
    await send([
      e1,
      a1,
      a2,
      { key: tenant, value: Buffer.from('not json {') },
      d1Retrying,
      d1Delivered,
      a3,
      d2Retrying,
      d2Older,
      e2,
      d2First,
      { key: tenant, value: Buffer.from(JSON.stringify({ kind: 'delivery', at: 'yesterday' })) },
    ]);
    await send([sentinel2]);
    await waitFor(() => event(sentinel2.eventId), { what: 'sentinel 2' });

    const stored = (await event(e1.eventId))!;
    expect(stored).toMatchObject({
      tenantId: tenant,
      type: 'user.created',
      source: '//identity',
      subject: 'u1',
      domain: 'user-lifecycle',
      traceId: 'trace-1',
      fanOut: 3,
      ingestTopic: 'platform.events.v1',
      ingestPartition: 0,
      ingestOffset: '42',
      match: e1.match,
      payloadHeaders: e1.payload.headers,
    });
    expect(stored.receivedAt.toISOString()).toBe(e1.receivedAt);
    expect(Buffer.from(stored.payloadBody).toString()).toBe('{"userId":"u1"}');
    expect(await db.prisma.ledgerEvent.count({ where: { tenantId: tenant } })).toBe(4);

    const rows = await deliveries(e1.eventId);
    expect(rows.map((r) => [r.subscriptionId, r.status, r.attempts, r.lastStatusCode, r.reason])).toEqual([
      ['sub-1', 'DELIVERED', 2, 200, null],
      ['sub-2', 'RETRYING', 1, null, 'timeout'],
      ['sub-3', 'PENDING', 0, null, null],
    ]);
    expect(rows[0]!.nextAttemptAt).toBeNull();
    expect(rows[0]!.updatedAt.toISOString()).toBe(d1Delivered.at);
    expect(rows[1]!.nextAttemptAt?.toISOString()).toBe(d2Retrying.nextAttemptAt);
    expect(rows[2]!.updatedAt.toISOString()).toBe(e1.receivedAt);
    // e2's FAILED state, made before its event arrived, is not undone by the event's PENDING placeholder.
    expect((await deliveries(e2.eventId)).map((r) => [r.subscriptionId, r.status, r.lastStatusCode])).toEqual([
      ['sub-1', 'FAILED', 410],
    ]);
    expect((await event(e2.eventId))?.fanOut).toBe(1);

    const attempts = await db.prisma.ledgerAttempt.findMany({
      where: { eventId: e1.eventId },
      orderBy: { attemptedAt: 'asc' },
    });
    expect(attempts.map((a) => [a.attemptId, a.subscriptionId, a.statusCode, a.errorCode, a.attempt])).toEqual([
      [a1.attemptId, 'sub-1', 503, 'DELIVERY.HTTP_503', 1],
      [a3.attemptId, 'sub-2', null, 'DELIVERY.TIMEOUT', 1],
      [a2.attemptId, 'sub-1', 200, null, 2],
    ]);
    expect(attempts[0]!.attemptedAt.toISOString()).toBe(a1.at);
    expect(await db.prisma.ledgerDelivery.count({ where: { tenantId: tenant } })).toBe(5);

    // Counted once the batch holding them is committed (the sentinel may have been written in the same batch).
    await waitFor(async () => (await metricValue(metrics.ledgerInvalid)) === 2, { what: '2 invalid records' });
    expect(await metricValue(metrics.ledgerInvalid)).toBe(2);
    expect(await metricValue(metrics.ledgerRows, { table: 'LedgerEvent' })).toBe(4);
    expect(await metricValue(metrics.ledgerRows, { table: 'LedgerAttempt' })).toBe(3);

    // Committed after the write: the group's offsets reach the end of the topic, and the lag shows it.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      await waitFor(
        async () => {
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          return ends.every(
            (e) =>
              committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.offset || e.offset === '0',
          );
        },
        { what: 'committed offsets at the end of the topic' },
      );
    } finally {
      await admin.disconnect();
    }
    await waitFor(async () => (await metricValue(metrics.ledgerLag)) === 0, { what: 'lag 0' });
    await waitFor(async () => (await metricValue(metrics.ledgerOldestAge)) === 0, { what: 'oldest age 0' });
  });

  it("reads an event, its payload and fan-out from its committed outbox records, never an aborted one's", async () => {
    const tenant = 'tenant-outbox';
    const receivedAt = iso(Date.now() - 1000);
    const outboxRecord = (eventId: string, subscriptionId: string, first: { fanOut: number } | undefined) => ({
      key: tenant,
      value: Buffer.from(JSON.stringify({ eventId, subscriptionId })),
      headers: {
        ce_specversion: '1.0',
        ce_id: eventId,
        ce_type: 'com.example.user.created',
        ce_source: '//identity',
        'content-type': 'application/json',
        'hub-subscription-id': subscriptionId,
        'hub-tenant-id': tenant,
        'hub-domain': 'user-lifecycle',
        'hub-received-at': receivedAt,
        ...(first
          ? {
              [LEDGER_EVENT_HEADER]: encodeLedgerEventHeader({
                match: { sourceService: 'identity', eventType: 'USER', resourceType: 'USER', operationType: 'CREATE' },
                fanOut: first.fanOut,
                ingest: { topic: 'platform.events.v1', partition: 0, offset: '7' },
              }),
            }
          : {}),
      },
    });
    const txProducer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await txProducer.connect();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    try {
      const commit = async (messages: ReturnType<typeof outboxRecord>[], abort = false) => {
        const tx = await txProducer.transaction();
        await tx.send({ topic: outboxTopic, messages });
        await (abort ? tx.abort() : tx.commit());
      };
      await commit([outboxRecord(a, 'sub-1', { fanOut: 2 }), outboxRecord(a, 'sub-2', undefined)]);
      await commit([outboxRecord(b, 'sub-1', { fanOut: 1 })], true);
      // The sentinel: same key, so the same partition, after the aborted transaction.
      await commit([outboxRecord(c, 'sub-1', { fanOut: 1 })]);
    } finally {
      await txProducer.disconnect();
    }
    await waitFor(() => event(c), { what: 'the event committed after the aborted one' });
    expect(await event(b)).toBeNull();
    const row = await event(a);
    expect(row).toMatchObject({ tenantId: tenant, fanOut: 2, domain: 'user-lifecycle', ingestOffset: '7' });
    expect(Buffer.from(row!.payloadBody!).toString()).toBe(JSON.stringify({ eventId: a, subscriptionId: 'sub-1' }));
    expect(row!.payloadHeaders).toMatchObject({ ce_id: a, 'content-type': 'application/json' });
    expect(Object.keys(row!.payloadHeaders as object).some((k) => k.startsWith('hub-'))).toBe(false);
    expect((await deliveries(a)).map((d) => [d.subscriptionId, d.status])).toEqual([
      ['sub-1', 'PENDING'],
      ['sub-2', 'PENDING'],
    ]);
    // The outbox-processor's outcome, later, moves a delivery on; the outbox record read again does not move it back.
    await send([aDelivery({ eventId: a, tenantId: tenant, receivedAt }, 'sub-2', Date.now())]);
    await waitFor(async () => (await deliveries(a))[1]?.status === 'DELIVERED', { what: 'sub-2 delivered' });
    // Everything read and written, the transaction markers after the last record included: no lag left.
    await waitFor(async () => (await metricValue(metrics.ledgerLag)) === 0, { what: 'the writer lag back to 0' });
  });

  it('skips a record Postgres refuses and writes the rest of its batch', async () => {
    const tenant = 'tenant-nul';
    const before = await metricValue(metrics.ledgerInvalid);
    const bad = anEvent(tenant, Date.now() - 1000, ['sub-1'], { type: 'nul\u0000type' });
    const good = anEvent(tenant, Date.now() - 1000, ['sub-1']);
    await send([bad, good]);
    await waitFor(() => event(good.eventId), { what: 'the good record after the refused one' });
    expect(await event(bad.eventId)).toBeNull();
    await waitFor(async () => (await metricValue(metrics.ledgerInvalid)) === before + 1, { what: 'counted invalid' });
  });

  it('pauses while Postgres is away and writes everything once it is back', async () => {
    away = true;
    const tenant = 'tenant-away';
    const e = anEvent(tenant, Date.now() - 1000, ['sub-1']);
    const a = anAttempt(e, 'sub-1', Date.now() - 900);
    await send([e, a, aDelivery(e, 'sub-1', Date.now() - 800)]);
    await waitFor(() => writer.paused(), { what: 'paused' });
    // The probe has been refused twice more while paused: the writer kept trying and wrote nothing meanwhile.
    const pingsAtPause = refusedPings;
    await waitFor(() => refusedPings >= pingsAtPause + 2, { what: 'two refused probes while paused' });
    expect(await event(e.eventId)).toBeNull();
    expect(await metricValue(metrics.ledgerOldestAge)).toBeGreaterThan(0);
    away = false;
    await waitFor(() => event(e.eventId), { what: 'written after the outage' });
    await waitFor(async () => (await deliveries(e.eventId))[0]?.attempts === 1, { what: 'delivery counted' });
    expect((await deliveries(e.eventId)).map((r) => r.status)).toEqual(['DELIVERED']);
    expect(writer.paused()).toBe(false);
  });

  it('makes the partitions of another day on demand, and retention drops whole days with their rows', async () => {
    const tenant = 'tenant-days';
    const threeDaysAgo = Date.now() - 3 * DAY_MS;
    const old = anEvent(tenant, threeDaysAgo, ['sub-1']);
    const oldAttempt = anAttempt(old, 'sub-1', threeDaysAgo + 100);
    const expired = anEvent(tenant, Date.now() - 40 * DAY_MS, ['sub-1']);
    const recent = anEvent(tenant, Date.now() - 1000, ['sub-1']);
    await send([old, oldAttempt, aDelivery(old, 'sub-1', threeDaysAgo + 200), expired, recent]);
    await waitFor(() => event(recent.eventId), { what: 'recent event' });
    const oldDay = utcDay(new Date(threeDaysAgo));
    expect(await partitions()).toEqual(
      expect.arrayContaining(
        ['LedgerEvent', 'LedgerDelivery', 'LedgerAttempt'].map((t) => `${t}_${oldDay.replaceAll('-', '')}`),
      ),
    );
    expect((await deliveries(old.eventId)).map((r) => [r.status, r.attempts])).toEqual([['DELIVERED', 1]]);
    // Past LOG_RETENTION_DAYS (14 by default): skipped, and no partition made for its day.
    expect(await event(expired.eventId)).toBeNull();
    expect(await partitions()).not.toContain(partitionName('LedgerEvent', utcDay(new Date(Date.now() - 40 * DAY_MS))));

    const dropped = await store.dropPartitionsBefore(utcDay(new Date(threeDaysAgo + DAY_MS)));
    expect(dropped).toEqual([oldDay]);
    const left = await partitions();
    for (const t of ['LedgerEvent', 'LedgerDelivery', 'LedgerAttempt'] as const) {
      expect(left).not.toContain(partitionName(t, oldDay));
      expect(left).toContain(partitionName(t, utcDay(new Date())));
    }
    expect(await event(old.eventId)).toBeNull();
    expect(await deliveries(old.eventId)).toEqual([]);
    expect(await db.prisma.ledgerAttempt.count({ where: { eventId: old.eventId } })).toBe(0);
    expect(await event(recent.eventId)).not.toBeNull();

    // The day comes back if a record of it is written again (the cache forgot it).
    await store.write([aDelivery(old, 'sub-1', threeDaysAgo + 300)]);
    expect((await deliveries(old.eventId)).map((r) => r.status)).toEqual(['DELIVERED']);
    // Retention with the writer's window (14 days) keeps it.
    expect(await writer.runRetention()).toEqual([]);
  });
});
