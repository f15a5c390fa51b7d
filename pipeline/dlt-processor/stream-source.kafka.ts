/**
 * The stream's Kafka side: one consumer per WebSocket connection, in a throwaway group of its own (nothing committed),
 * positioned explicitly on every partition: at the end of each topic for a new connection, at the cursor for a resume.
 *
 * Why one consumer per connection (and not one shared consumer fanning out): a resume needs its own position in
 * every partition, and a slow reader must never hold back anyone else — with a consumer of its own it holds back
 * nothing but itself, and the route closes it past its buffer bound. The cost (a group join and a fetch session per
 * connection) is bounded by the connection limits per key and per tenant (STREAM_MAX_PER_KEY, STREAM_MAX_PER_TENANT).
 * It reads only: the delivery pipeline's consumers and offsets are untouched.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { FETCH_MAX_WAIT_MS } from '../shared/kafka/client';
import { runConsumer } from '../shared/kafka/consumer-runner';
import type { Logger } from '../shared/logging/logger';
import type { Cursor, StreamRecord } from './stream';

/** Port: opens a position-tracked read of `topics` for one connection. */
export interface StreamSource {
  open(opts: {
    topics: string[];
    /** Resume from here (next offsets); undefined = from the end of every partition now. */
    from?: Cursor;
    /** Called in partition order; returns false to stop reading (the connection is going away). */
    onRecord(r: StreamRecord, cursor: Cursor): void;
    onError(err: Error): void;
  }): Promise<{ start: Cursor; close(): Promise<void> }>;
}

export function kafkaStreamSource(kafka: Kafka, groupPrefix: string, log: Logger): StreamSource {
  return {
    async open({ topics, from, onRecord, onError }) {
      const admin = kafka.admin();
      await admin.connect();
      const position: Cursor = {};
      try {
        for (const topic of topics) {
          position[topic] = {};
          // From the cursor where it has the partition, else the end now (a partition added since starts there).
          for (const p of await admin.fetchTopicOffsets(topic))
            position[topic]![p.partition] = from?.[topic]?.[p.partition] ?? p.high;
        }
      } finally {
        await admin.disconnect();
      }
      const consumer: Consumer = kafka.consumer({
        groupId: `${groupPrefix}-stream-${randomUUID()}`,
        maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
        sessionTimeout: 10_000,
        heartbeatInterval: 3_000,
        retry: { retries: 3 },
      });
      consumer.on(consumer.events.CRASH, (e) => onError(e.payload.error));
      const runner = await runConsumer({
        consumer,
        name: 'stream',
        log,
        topics,
        fromBeginning: false,
        // Reads only (its group is throwaway): positions are tracked here, nothing is committed.
        autoResolve: true,
        async handle(batch, ctx) {
          const { topic, partition } = batch;
          for (const message of batch.messages) {
            if (!ctx.live()) return;
            position[topic]![partition] = (BigInt(message.offset) + 1n).toString();
            onRecord(
              { topic, partition, offset: message.offset, headers: message.headers, value: message.value },
              position,
            );
          }
        },
      });
      for (const [topic, parts] of Object.entries(position))
        for (const [partition, offset] of Object.entries(parts))
          consumer.seek({ topic, partition: Number(partition), offset });
      return { start: structuredClone(position), close: () => runner.stop(1_000) };
    },
  };
}
