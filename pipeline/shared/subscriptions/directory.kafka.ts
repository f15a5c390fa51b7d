/**
 * SubscriptionDirectory on Kafka: the processors' in-memory view of the subscription registry (ports: directory.ts).
 *
 *   compacted topic integration-hub.subscriptions.v1 ──(consumer, own group, from beginning)──▶ SubscriptionIndex
 *
 * Ready once the consumer's fetch position on every partition has reached the end offset seen at start (the high
 * watermark, or the last stable offset under read_committed); stays fresh afterwards. The position, not the last
 * record seen: the offset just below the end may hold no deliverable record (a transaction commit/abort marker, an
 * aborted record), and waiting to *see* it would hang every processor at start.
 * No DB or RPC call per event: `match` and `get` answer from memory.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../errors';
import { FETCH_MAX_WAIT_MS } from '../kafka/client';
import { runConsumer } from '../kafka/consumer-runner';
import type { Logger } from '../logging/logger';
import type { SubscriptionDirectory } from './directory';
import { decodeSnapshot, type SubscriptionSnapshot } from './snapshot';
import { SubscriptionIndex } from './subscription-index';

export interface DirectoryOptions {
  kafka: Kafka;
  topic: string;
  log: Logger;
  /** Prefix of the throwaway consumer group; a random suffix keeps every instance reading everything. */
  groupPrefix?: string;
  /** Called after each applied change (e.g. to drop cached OAuth tokens of a changed subscription). */
  onChange?: (id: string, snapshot: SubscriptionSnapshot | null) => void;
}

export async function startSubscriptionDirectory(opts: DirectoryOptions): Promise<SubscriptionDirectory> {
  const index = new SubscriptionIndex();
  const groupId = `${opts.groupPrefix ?? 'integration-hub-directory'}-${randomUUID()}`;
  const admin = opts.kafka.admin();
  await admin.connect();
  const startOffsets = await admin.fetchTopicOffsets(opts.topic);
  await admin.disconnect();

  // partition -> end offset to reach (exclusive); partitions already empty are done. The admin lists offsets
  // read_committed (kafkajs's default), matching the consumer below: `high` is the last stable offset.
  const pending = new Map<number, bigint>();
  for (const p of startOffsets) {
    const high = BigInt(p.high);
    const low = BigInt(p.low);
    if (high > low) pending.set(p.partition, high);
  }
  let appliedCount = 0;
  let readyFlag = false;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const markReadyIfCaughtUp = () => {
    if (!readyFlag && pending.size === 0) {
      readyFlag = true;
      opts.log.info({ subscriptions: index.size, groupId }, 'subscription directory caught up');
      resolveReady();
    }
  };
  markReadyIfCaughtUp();

  const consumer: Consumer = opts.kafka.consumer({
    groupId,
    // Only committed relay writes; the relay uses an idempotent (non-transactional) producer, so this is a no-op
    // today but stays correct if it turns transactional.
    readUncommitted: false,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
  });
  // The consumer's position after a batch is its last offset + 1. kafkajs reports every batch here, including
  // those never handed to eachBatch because all their records were filtered out (control records, aborted
  // transactions); `lastOffset` counts those records too. Emitted synchronously after eachBatch returned, so the
  // batch's records are applied before the partition counts as caught up.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic !== opts.topic) return;
    const target = pending.get(payload.partition);
    if (target !== undefined && BigInt(payload.lastOffset) + 1n >= target) {
      pending.delete(payload.partition);
      markReadyIfCaughtUp();
    }
  });
  const runner = await runConsumer({
    consumer,
    name: 'directory',
    log: opts.log,
    topics: [opts.topic],
    // Reads only (its group is throwaway): kafkajs resolves each batch as it returns; nothing is committed.
    autoResolve: true,
    async handle(batch, ctx) {
      for (const message of batch.messages) {
        const id = message.key?.toString('utf8');
        if (id) {
          try {
            const snapshot = decodeSnapshot(message.value);
            index.apply(id, snapshot);
            appliedCount++;
            opts.onChange?.(id, snapshot);
          } catch (err) {
            // A malformed snapshot must not stop the directory: keep the previous view of that id and say so.
            opts.log.error(
              { subscriptionId: id, offset: message.offset, err: errorMessage(err) },
              'ignored malformed subscription snapshot',
            );
          }
        }
      }
      await ctx.heartbeat();
    },
  });

  return {
    get: (id) => index.get(id),
    match: (event, o) => index.match(event, o),
    ready: () => readyPromise,
    isReady: () => readyFlag,
    size: () => index.size,
    applied: () => appliedCount,
    async stop() {
      await runner.stop();
      const cleanup = opts.kafka.admin();
      try {
        await cleanup.connect();
        await cleanup.deleteGroups([groupId]);
      } catch {
        // The group expires on its own; deleting it is only tidiness.
      } finally {
        await cleanup.disconnect().catch(() => {});
      }
    },
  };
}
