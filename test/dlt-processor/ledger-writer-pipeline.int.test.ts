/**
 * The ledger writer fetches on while a batch is written, and commits in each partition's order: on the real broker
 * and a fresh database, with a store that holds the write of one record until the test lets it go.
 *
 * Before the writer handed its batches on, kafkajs fetched from the broker again only when the batch being written
 * had returned, so a second batch of the same partition was not even read while the first's transaction ran (the
 * catch-up after a burst was one fetch, one transaction, one commit at a time). Handing on must not let an offset be
 * committed past a record that is not written yet: a crash then would lose it.
 */
import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { type LedgerWriter, startLedgerWriter } from '../../pipeline/dlt-processor/ledger-writer.kafka';
import { createDltMetrics } from '../../pipeline/dlt-processor/metrics';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { encodeLedgerRecord, type LedgerEvent, type LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import type { LedgerWriterStore } from '../../pipeline/shared/ledger/ledger-store';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { topicNames } from '../../pipeline/shared/topics';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testKafka, uniqueName, waitFor } from '../support/kafka';

jest.setTimeout(90_000);

const anEvent = (tenantId: string): LedgerEvent => {
  const now = new Date().toISOString();
  return {
    kind: 'event',
    at: now,
    eventId: uniqueName('evt'),
    tenantId,
    type: 'user.created',
    source: '//identity',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
    domain: 'user-lifecycle',
    receivedAt: now,
    subscriptionIds: ['sub-1'],
    payload: { headers: { ce_id: 'x' }, body: Buffer.from('{}').toString('base64') },
  };
};

describe('ledger writer pipeline', () => {
  let db: TestDatabase;
  let kafka: Kafka;
  let producer: Producer;
  let writer: LedgerWriter | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    kafka = testKafka('ledger-pipeline-test');
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
  });
  afterAll(async () => {
    await writer?.stop();
    await producer?.disconnect();
    await db?.drop();
  });

  it('writes the next batch while one is held, and commits neither past the held record until it is written', async () => {
    const topic = topicNames(uniqueName('hub')).ledger;
    await ensureTopics(kafka, [{ topic, partitions: 1 }]);
    const held = anEvent('tenant-held');
    const next = anEvent('tenant-next');
    const store = new LedgerWriterStorePg(db.pool());
    // One sequence for writes finished and offsets committed, so their order can be compared afterwards.
    let seq = 0;
    const writtenAt = new Map<string, number>();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let heldWriteStarted = false;
    const gated: LedgerWriterStore = {
      async write(records: LedgerRecord[]) {
        const holds = records.some((r) => r.eventId === held.eventId);
        if (holds) {
          heldWriteStarted = true;
          await gate;
        }
        const counts = await store.write(records);
        for (const r of records) writtenAt.set(r.eventId, ++seq);
        return counts;
      },
      ensureDays: (d) => store.ensureDays(d),
      dropPartitionsBefore: (d) => store.dropPartitionsBefore(d),
      ping: () => store.ping(),
    };
    const commits: { offset: bigint; seq: number }[] = [];
    // The writer's consumer, watched: every offset it commits on the ledger topic, in the same sequence.
    const watched = Object.create(kafka) as Kafka;
    watched.consumer = (config) => {
      const c = kafka.consumer(config);
      c.on(c.events.COMMIT_OFFSETS, (e) => {
        for (const t of e.payload.topics)
          if (t.topic === topic) for (const p of t.partitions) commits.push({ offset: BigInt(p.offset), seq: ++seq });
      });
      return c;
    };
    writer = await startLedgerWriter({
      kafka: watched,
      topic,
      groupId: uniqueName('ledger-pipeline'),
      store: gated,
      log: pino({ level: 'silent' }),
      metrics: createDltMetrics(),
    });
    const [heldMeta] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: held.tenantId, value: encodeLedgerRecord(held) }],
    });
    await waitFor(() => heldWriteStarted, { what: 'the held record in the store' });
    await producer.send({ topic, acks: -1, messages: [{ key: next.tenantId, value: encodeLedgerRecord(next) }] });
    // Fetched, decoded and written while the first batch's write is still held.
    await waitFor(() => writtenAt.has(next.eventId), { what: 'the next batch written while the first is held' });
    expect(writtenAt.has(held.eventId)).toBe(false);
    release();
    const heldOffset = BigInt(heldMeta!.baseOffset!);
    await waitFor(() => writtenAt.has(held.eventId) && commits.some((c) => c.offset >= heldOffset + 2n), {
      what: 'both written and committed',
    });
    const heldWritten = writtenAt.get(held.eventId)!;
    // No commit past the held record before its write finished.
    for (const c of commits) if (c.offset > heldOffset) expect(c.seq).toBeGreaterThan(heldWritten);
    expect(await db.prisma.ledgerEvent.count({ where: { eventId: { in: [held.eventId, next.eventId] } } })).toBe(2);
  });
});
