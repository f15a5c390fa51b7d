/**
 * What do the event-processor's Kafka transactions cost? Produces outbox-shaped records (binary-mode CloudEvent
 * headers, ~300-byte JSON value) to a 6-partition topic in chunks and commits an input offset per chunk, two ways,
 * on the same broker in the same run:
 *
 *   transactional  begin -> sendBatch -> sendOffsets -> commit     (what ingest.kafka.ts does: exactly-once)
 *   plain          idempotent sendBatch(acks=all) -> commit offset (at-least-once: duplicates after a crash)
 *
 * Prints records/s and ms per chunk for each chunk size. Asserts nothing.
 *
 *   KAFKA_BROKERS=host:port node -r ./test/support/swc-register.js bench/event-processor-transactions.ts [records]
 *   (without KAFKA_BROKERS a local broker is started from the Maven Central jars)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, type Message, Partitioners } from 'kafkajs';
import { resolveKafka } from '../scripts/local-kafka';

const RECORDS = Number(process.argv[2] ?? 20_000);
const CHUNKS = [10, 100, 500];

function outboxMessage(i: number): Message {
  return {
    key: `tenant-${i % 50}`,
    value: JSON.stringify({ userId: `u-${i}`, email: `user${i}@example.com`, roles: ['a', 'b'], pad: 'x'.repeat(200) }),
    headers: {
      ce_specversion: '1.0',
      ce_id: `evt-${i}`,
      ce_source: '//identity',
      ce_type: 'user.created',
      ce_time: new Date().toISOString(),
      ce_subject: `USER/u-${i}`,
      ce_tenantid: `tenant-${i % 50}`,
      ce_traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'content-type': 'application/json',
      'hub-subscription-id': `sub-${i % 7}`,
      'hub-tenant-id': `tenant-${i % 50}`,
      'hub-domain': 'user-lifecycle',
    },
  };
}

async function main(): Promise<void> {
  const broker = await resolveKafka({ heapMb: 768 });
  const kafka = new Kafka({ brokers: broker.brokers.split(','), clientId: 'bench-tx', logLevel: logLevel.NOTHING });
  const run = randomUUID().slice(0, 8);
  const input = `bench-tx-in-${run}`;
  const admin = kafka.admin();
  await admin.connect();
  const outTopic = (mode: string, chunk: number) => `bench-tx-out-${mode}-${chunk}-${run}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: input, numPartitions: 1 },
      ...CHUNKS.flatMap((c) => ['tx', 'plain'].map((m) => ({ topic: outTopic(m, c), numPartitions: 6 }))),
    ],
  });
  const messages = Array.from({ length: RECORDS }, (_, i) => outboxMessage(i));
  const rows: string[] = [];

  for (const chunk of CHUNKS) {
    // transactional
    const groupTx = `bench-tx-group-${chunk}-${run}`;
    const tx = kafka.producer({
      transactionalId: `bench-tx-${chunk}-${run}`,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await tx.connect();
    let t0 = performance.now();
    for (let i = 0; i < RECORDS; i += chunk) {
      const txn = await tx.transaction();
      await txn.sendBatch({
        acks: -1,
        topicMessages: [{ topic: outTopic('tx', chunk), messages: messages.slice(i, i + chunk) }],
      });
      await txn.sendOffsets({
        consumerGroupId: groupTx,
        topics: [{ topic: input, partitions: [{ partition: 0, offset: String(i + chunk) }] }],
      });
      await txn.commit();
    }
    const txMs = performance.now() - t0;
    await tx.disconnect();

    // plain: idempotent produce, then an offset commit per chunk (what an at-least-once consumer does)
    const groupPlain = `bench-plain-group-${chunk}-${run}`;
    const plain = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await plain.connect();
    t0 = performance.now();
    for (let i = 0; i < RECORDS; i += chunk) {
      await plain.sendBatch({
        acks: -1,
        topicMessages: [{ topic: outTopic('plain', chunk), messages: messages.slice(i, i + chunk) }],
      });
      await admin.setOffsets({
        groupId: groupPlain,
        topic: input,
        partitions: [{ partition: 0, offset: String(i + chunk) }],
      });
    }
    const plainMs = performance.now() - t0;
    await plain.disconnect();

    const chunks = Math.ceil(RECORDS / chunk);
    rows.push(
      `chunk ${String(chunk).padStart(4)}: transactional ${Math.round(RECORDS / (txMs / 1000))
        .toString()
        .padStart(7)} rec/s (${(txMs / chunks).toFixed(2)} ms/chunk) | plain ${Math.round(RECORDS / (plainMs / 1000))
        .toString()
        .padStart(
          7,
        )} rec/s (${(plainMs / chunks).toFixed(2)} ms/chunk) | tx/plain time x${(txMs / plainMs).toFixed(2)}`,
    );
    process.stdout.write(`${rows[rows.length - 1]}\n`);
  }
  await admin.disconnect();
  await broker.stop();
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
