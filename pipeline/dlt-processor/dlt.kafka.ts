/**
 * Kafka adapter of the dlt-processor: DLT topics -> Postgres, committing an offset only after the database
 * transaction that holds its record has committed. If Postgres is unreachable the consumer pauses its topics,
 * retries with backoff, and resumes when the database answers again; nothing unpersisted is ever committed.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from './failure-store';
import { parseDltRecord } from './parse-dlt-record';

export interface DltConsumerOptions {
  kafka: Kafka;
  topics: string[];
  groupId: string;
  store: FailureStore;
  log: Logger;
  onPersisted?: (n: number) => void;
  maxBackoffMs?: number;
}

export async function startDltConsumer(
  opts: DltConsumerOptions,
): Promise<{ stop(): Promise<void>; paused(): boolean }> {
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: true });
  let dbDown = false;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      if (batch.messages.length === 0) return;
      const now = new Date();
      const rows = batch.messages.map((m) => parseDltRecord(batch.topic, batch.partition, m, now));
      let backoff = 200;
      for (;;) {
        if (!isRunning() || isStale()) return; // nothing resolved: the batch is fetched again
        try {
          await opts.store.persistBatch(rows);
          break;
        } catch (err) {
          if (!dbDown)
            opts.log.error(
              { err: errorMessage(err), topic: batch.topic },
              'cannot persist DLT records; holding the partition until Postgres answers',
            );
          dbDown = true;
          await heartbeat().catch(() => {});
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(opts.maxBackoffMs ?? 5000, backoff * 2);
        }
      }
      if (dbDown) opts.log.info('Postgres is back; DLT persistence resumed');
      dbDown = false;
      for (const m of batch.messages) resolveOffset(m.offset);
      await consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() },
      ]);
      await commitOffsetsIfNecessary();
      opts.onPersisted?.(rows.length);
      await heartbeat();
    },
  });
  return {
    paused: () => dbDown,
    async stop() {
      await consumer.disconnect();
    },
  };
}
