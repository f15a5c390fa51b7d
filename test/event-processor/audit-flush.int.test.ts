/**
 * The audit stream on a real broker: a flush of megabytes (a busy second's entries, several tenants on one
 * partition) reaches the topic whole. As one produce request the broker refused it (MESSAGE_TOO_LARGE: kafkajs puts a
 * request's records for one partition into one record batch, above message.max.bytes), and the sink dropped every
 * entry of the flush; the adapter now cuts it into requests of at most AUDIT_REQUEST_BYTES (audit.kafka.ts).
 */
import { type AuditEntry, auditBatches, createAuditSink } from '../../pipeline/shared/audit/audit';
import { kafkaAuditProducer } from '../../pipeline/shared/audit/audit.kafka';
import { consumeAll, createTopic, testKafka, uniqueName } from '../support/kafka';

jest.setTimeout(60_000);

describe('audit stream', () => {
  it('produces a flush of several megabytes on one partition without dropping an entry', async () => {
    const topic = uniqueName('audit');
    await createTopic(topic, 1);
    const producer = testKafka().producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const dropped: { err: string; n: number }[] = [];
    const sink = createAuditSink({
      producer: kafkaAuditProducer(producer, topic),
      source: '//test/audit',
      // Flushed by the test only, at once.
      flushIntervalMs: 3_600_000,
      onError: (err, n) => dropped.push({ err: String(err), n }),
    });
    const entries: AuditEntry[] = Array.from({ length: 9_000 }, (_, i) => ({
      stage: 'HTTP_SEND',
      eventId: `evt-${i}`,
      tenantId: `tenant-${i % 3}`,
      subscriptionId: 'sub-1',
      status: 200,
      detail: 'x'.repeat(500),
    }));
    try {
      for (const e of entries) sink.record(e);
      await sink.flush();
      expect(dropped).toEqual([]);
      const records = auditBatches(entries, '//test/audit', new Date()).length;
      // Several megabytes for one partition: more than one produce request's worth, and more than the broker's limit.
      expect(records * 256 * 1024).toBeGreaterThan(2 * 1024 * 1024);
      const consumed = await consumeAll(topic, { count: records });
      const ids = consumed.flatMap((r) =>
        (JSON.parse(r.value!.toString()) as { data: AuditEntry }[]).map((ce) => ce.data.eventId),
      );
      expect(ids).toHaveLength(entries.length);
      expect(new Set(ids).size).toBe(entries.length);
    } finally {
      await sink.stop();
      await producer.disconnect();
    }
  });
});
