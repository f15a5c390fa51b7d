/**
 * The two kafkajs 2.2.4 patches (pipeline/shared/kafka/kafkajs-*.ts), against the real broker: a transactional
 * producer asks for its coordinators once, not before every request, and transactions still commit exactly what
 * they hold (a read_committed reader sees every committed record and no aborted one).
 */
import '../../pipeline/shared/kafka/kafkajs-coordinator-cache';
import '../../pipeline/shared/kafka/kafkajs-idle-fix';
import { consumeAll, createTopic, testKafka, uniqueName } from '../support/kafka';

describe('kafkajs patches', () => {
  it('asks for the transaction and group coordinators once per second, not before each request', async () => {
    const out = uniqueName('patch-out');
    const input = uniqueName('patch-in');
    await createTopic(out, 3);
    await createTopic(input, 1);
    const producer = testKafka('patch-test').producer({
      transactionalId: uniqueName('patch-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const requests: string[] = [];
    producer.on(producer.events.REQUEST, (e) => requests.push(e.payload.apiName));
    await producer.connect();
    try {
      requests.length = 0;
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        const tx = await producer.transaction();
        await tx.send({ topic: out, acks: -1, messages: [{ key: `k${i}`, value: `committed-${i}` }] });
        await tx.sendOffsets({
          consumerGroupId: 'patch-group',
          topics: [{ topic: input, partitions: [{ partition: 0, offset: String(i + 1) }] }],
        });
        await tx.commit();
      }
      const aborted = await producer.transaction();
      await aborted.send({ topic: out, acks: -1, messages: [{ key: 'x', value: 'aborted' }] });
      await aborted.abort();
      // A positive sentinel after the aborted one: once a reader sees it, it has passed where "aborted" would be.
      const sentinel = await producer.transaction();
      await sentinel.send({ topic: out, acks: -1, messages: [{ key: 'k0', value: 'sentinel' }] });
      await sentinel.commit();
      const elapsedS = (Date.now() - started) / 1000;
      const lookups = requests.filter((r) => r === 'GroupCoordinator').length;
      // Unpatched: 4 per committed transaction, 3 per aborted one (27 here). Patched: one per coordinator type per second of TTL.
      expect(lookups).toBeGreaterThan(0);
      expect(lookups).toBeLessThanOrEqual(2 * (Math.ceil(elapsedS) + 1));
      expect(requests.filter((r) => r === 'EndTxn')).toHaveLength(7);
    } finally {
      await producer.disconnect();
    }
    const seen = await consumeAll(out, { count: 6 });
    expect(seen.map((r) => r.value?.toString()).sort()).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => `committed-${i}`),
      'sentinel',
    ]);
  });
});
