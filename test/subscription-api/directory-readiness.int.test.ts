/**
 * SubscriptionDirectory readiness on the real broker: the directory is ready once its fetch position reached the end
 * offset seen at start, even when the record just below that end is no deliverable record. A transaction's commit
 * or abort marker takes an offset of its own and is never handed to the consumer; waiting to *see* it hung every
 * processor at start (issue 13 item 6).
 */
import pino from 'pino';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import { encodeSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTopic, testKafka, uniqueName } from '../support/kafka';

const log = pino({ level: 'silent' });

describe('subscription directory readiness', () => {
  it('becomes ready when the last offsets of the partitions are transaction markers', async () => {
    const topic = uniqueName('directory-tx');
    await createTopic(topic, 3, true);
    const kafka = testKafka('directory-readiness');
    const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const committedIds = ['sub-committed-a', 'sub-committed-b', 'sub-committed-c'];
    try {
      // Partition 0: a committed transaction; its commit marker is the partition's last offset.
      const committed = await producer.transaction();
      await committed.send({
        topic,
        messages: committedIds
          .slice(0, 2)
          .map((id) => ({ partition: 0, key: id, value: encodeSnapshot(aSnapshot({ id })) })),
      });
      await committed.commit();
      // Partition 1: a committed record, then an aborted transaction (its record and abort marker come last).
      const first = await producer.transaction();
      await first.send({
        topic,
        messages: [{ partition: 1, key: committedIds[2]!, value: encodeSnapshot(aSnapshot({ id: committedIds[2]! })) }],
      });
      await first.commit();
      const aborted = await producer.transaction();
      await aborted.send({
        topic,
        messages: [{ partition: 1, key: 'sub-aborted', value: encodeSnapshot(aSnapshot({ id: 'sub-aborted' })) }],
      });
      await aborted.abort();
      // Partition 2 stays empty.
    } finally {
      await producer.disconnect();
    }

    const directory = await startSubscriptionDirectory({ kafka, topic, log });
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), 15_000);
      });
      const outcome = await Promise.race([directory.ready().then(() => 'ready' as const), timeout]);
      clearTimeout(timer);
      expect(outcome).toBe('ready');
      expect(directory.isReady()).toBe(true);
      // Ready means caught up: every committed subscription is there, the aborted one never is.
      for (const id of committedIds) expect(directory.get(id)).toMatchObject({ id });
      expect(directory.get('sub-aborted')).toBeUndefined();
      expect(directory.size()).toBe(3);
    } finally {
      await directory.stop();
    }
  });
});
