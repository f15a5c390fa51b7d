import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { consumeAll, createTopic, testKafka, uniqueName, waitFor } from '../support/kafka';

jest.setTimeout(60_000);

describe('the real Kafka broker', () => {
  it('lands keyed records in one partition per key on a multi-partition topic', async () => {
    const topic = uniqueName('keyed');
    await createTopic(topic, 6);
    const producer = testKafka().producer({ idempotent: true });
    await producer.connect();
    const keys = ['tenant-a', 'tenant-b', 'tenant-c', 'tenant-d'];
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 80 }, (_, i) => ({ key: keys[i % keys.length]!, value: String(i) })),
    });
    await producer.disconnect();
    const records = await consumeAll(topic, { count: 80 });
    const partitionsByKey = new Map<string, Set<number>>();
    for (const r of records) {
      const set = partitionsByKey.get(r.key!) ?? new Set();
      set.add(r.partition);
      partitionsByKey.set(r.key!, set);
    }
    expect([...partitionsByKey.values()].map((s) => s.size)).toEqual([1, 1, 1, 1]);
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(1);
    // Order within a key is kept.
    const aValues = records.filter((r) => r.key === 'tenant-a').map((r) => Number(r.value!.toString()));
    expect(aValues).toEqual([...aValues].sort((x, y) => x - y));
  });

  it('resumes a consumer group after the committed offset', async () => {
    const topic = uniqueName('group');
    const groupId = uniqueName('g');
    await createTopic(topic, 1);
    const kafka = testKafka();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: String(i) })) });

    const first = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    const seenFirst: string[] = [];
    await first.connect();
    await first.subscribe({ topic, fromBeginning: true });
    await first.run({
      autoCommit: false,
      eachMessage: async ({ message }) => void seenFirst.push(message.value!.toString()),
    });
    await waitFor(() => seenFirst.length === 10);
    await first.commitOffsets([{ topic, partition: 0, offset: '6' }]);
    await first.disconnect();

    const admin = kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    await admin.disconnect();
    expect(committed[0]!.partitions[0]!.offset).toBe('6');

    const second = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    const seenSecond: string[] = [];
    await second.connect();
    await second.subscribe({ topic, fromBeginning: true });
    await second.run({ eachMessage: async ({ message }) => void seenSecond.push(message.value!.toString()) });
    await waitFor(() => seenSecond.length === 4);
    await second.disconnect();
    await producer.disconnect();
    expect(seenSecond).toEqual(['6', '7', '8', '9']);
  });

  it('shows committed transactions to read_committed readers and hides aborted ones', async () => {
    const topic = uniqueName('tx');
    await createTopic(topic, 2);
    const producer = testKafka().producer({
      transactionalId: uniqueName('tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({
      topic,
      messages: [
        { key: 'k', value: 'committed-1' },
        { key: 'j', value: 'committed-2' },
      ],
    });
    await committed.commit();
    await producer.disconnect();

    const readCommitted = await consumeAll(topic, { count: 2, settleMs: 1000 });
    expect(readCommitted.map((r) => r.value!.toString()).sort()).toEqual(['committed-1', 'committed-2']);
    const readAll = await consumeAll(topic, { count: 3, isolation: 'read_uncommitted', settleMs: 500 });
    expect(readAll.map((r) => r.value!.toString())).toContain('aborted');
  });

  it('ensureTopics creates compacted topics once and tolerates existing ones', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    const compacted = uniqueName('compacted');
    const plain = uniqueName('plain');
    expect(
      await ensureTopics(admin, [
        { topic: compacted, partitions: 2, compact: true },
        { topic: plain, partitions: 4 },
      ]),
    ).toEqual([compacted, plain]);
    expect(await ensureTopics(admin, [{ topic: compacted, compact: true }])).toEqual([]);
    const meta = await admin.fetchTopicMetadata({ topics: [plain] });
    expect(meta.topics[0]!.partitions).toHaveLength(4);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: compacted, configNames: ['cleanup.policy'] }],
    });
    expect(configs.resources[0]!.configEntries[0]!.configValue).toBe('compact');
    // Given a Kafka client instead of an admin, it opens and closes its own admin.
    const viaClient = uniqueName('via-client');
    expect(await ensureTopics(testKafka(), [{ topic: viaClient, numPartitions: 2 }, { topic: plain }])).toEqual([
      viaClient,
    ]);
    const viaMeta = await admin.fetchTopicMetadata({ topics: [viaClient] });
    expect(viaMeta.topics[0]!.partitions).toHaveLength(2);
    await admin.disconnect();
  });
});
