/**
 * Does a transactional id need a rest between its transactions? Runs 20-record transactions (sendBatch,
 * sendOffsets, commit) 100 at a time on one broker: on one producer back to back or with a pause of 2-20 ms, and on
 * two producers in turn; prints the mean / p50 / p99 ms and the AddPartitionsToTxn requests per transaction (more
 * than 1: answered CONCURRENT_TRANSACTIONS and retried). Why the event-processor's ProducerPool lets a producer rest
 * (BENCHMARKS.md, 2026-12-01 22:53). Asserts nothing.
 *
 *   npm run build && node dist/bench/transaction-rest.js   (a local broker is started from the Maven Central jars)
 */

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { resolveKafka } from '../scripts/local-kafka';

async function main() {
  const broker = await resolveKafka({ heapMb: 512 });
  const kafka = new Kafka({ brokers: broker.brokers.split(','), clientId: 'txalt', logLevel: logLevel.NOTHING });
  const run = randomUUID().slice(0, 8);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: `in-${run}`, numPartitions: 1 },
      { topic: `out-${run}`, numPartitions: 6 },
    ],
  });
  await admin.disconnect();
  const mk = (id: string) =>
    kafka.producer({
      transactionalId: id,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { initialRetryTime: 20, maxRetryTime: 5000, retries: 1e9 },
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  const ps: Producer[] = [mk(`a-${run}`), mk(`b-${run}`)];
  let adds = 0;
  for (const p of ps)
    p.on(p.events.REQUEST, (e) => {
      if (e.payload.apiName === 'AddPartitionsToTxn') adds++;
    });
  await Promise.all(ps.map((p) => p.connect()));
  let off = 0;
  const once = async (p: Producer) => {
    const t = await p.transaction();
    await t.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic: `out-${run}`,
          messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(300) })),
        },
      ],
    });
    await t.sendOffsets({
      consumerGroupId: `g-${run}`,
      topics: [{ topic: `in-${run}`, partitions: [{ partition: 0, offset: String(++off) }] }],
    });
    await t.commit();
  };
  for (let round = 0; round < 2; round++)
    for (const gap of [0, 2, 5, 10, 20])
      for (const alt of [false, true]) {
        const ms: number[] = [];
        adds = 0;
        for (let i = 0; i < 100; i++) {
          const s = performance.now();
          await once(alt ? ps[i % 2]! : ps[0]!);
          ms.push(performance.now() - s);
          if (gap) await new Promise((r) => setTimeout(r, gap));
        }
        ms.sort((a, b) => a - b);
        console.log(
          `gap ${gap} ms, ${alt ? 'two alternating' : 'same producer  '}: mean ${(ms.reduce((a, b) => a + b) / ms.length).toFixed(1)} ms, p50 ${ms[50]!.toFixed(1)}, p99 ${ms[98]!.toFixed(1)}; AddPartitionsToTxn per txn ${(adds / 100).toFixed(2)}`,
        );
      }
  await Promise.all(ps.map((p) => p.disconnect()));
  await broker.stop();
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
