/** Helpers for integration tests against the real broker started by the global setup. */
import { randomUUID } from 'node:crypto';
import { Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { headersToStrings } from '../../pipeline/shared/kafka/headers';

export function brokers(): string[] {
  const b = process.env.KAFKA_BROKERS;
  if (!b) throw new Error('KAFKA_BROKERS is not set: run integration tests through jest (global setup starts Kafka)');
  return b.split(',');
}

export function testKafka(clientId = 'test'): Kafka {
  return new Kafka({ brokers: brokers(), clientId, logLevel: logLevel.NOTHING });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function createTopic(topic: string, partitions = 3, compact = false): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: partitions,
          configEntries: compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * THE wait of the integration tests: polls `fn` until it returns a truthy value (returned) or the timeout passes
 * (throws, with the last error `fn` threw). Wait for a positive sentinel with it, never sleep to prove an absence.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    // The probe runs once more after the deadline passed, so a slow probe still gets its last look.
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${lastErr ? `: ${(lastErr as Error).message}` : ''}`,
  );
}

/**
 * Waits until the group's committed offsets reach the end of every partition of `topics` (an empty partition
 * counts as reached): the positive sentinel that every record before the end has had its side effect, since
 * offsets are committed only after it. Use it instead of sleeping to let stragglers arrive.
 */
export async function waitForCommittedToEnd(
  groupId: string,
  topics: string[],
  opts: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const admin = testKafka('committed-to-end').admin();
  await admin.connect();
  try {
    await waitFor(
      async () => {
        for (const topic of topics) {
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          const ends = await admin.fetchTopicOffsets(topic);
          const behind = ends.some(
            (e) => e.high !== '0' && committed!.partitions.find((p) => p.partition === e.partition)?.offset !== e.high,
          );
          if (behind) return false;
        }
        return true;
      },
      { timeoutMs: opts.timeoutMs, intervalMs: 100, what: opts.what ?? `${groupId}'s committed offsets at the end` },
    );
  } finally {
    await admin.disconnect();
  }
}

/** How many records the topics hold now (high minus low watermarks): `consumeAll`'s count to read them all. */
export async function recordsIn(topics: string[]): Promise<number> {
  const admin = testKafka('test-offsets').admin();
  await admin.connect();
  try {
    let n = 0;
    for (const t of topics) for (const o of await admin.fetchTopicOffsets(t)) n += Number(o.high) - Number(o.low);
    return n;
  } finally {
    await admin.disconnect();
  }
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface ConsumeAllOptions {
  count: number;
  /** Read until a record satisfies this (a sentinel) instead of until `count` records arrived. */
  until?: (r: ConsumedRecord) => boolean;
  timeoutMs?: number;
  /** After reaching `count`, wait until no new record came for this long (to catch extras). */
  settleMs?: number;
  /** Default read_committed: records of aborted or open transactions stay invisible. */
  isolation?: 'read_committed' | 'read_uncommitted';
  /** Same as isolation: 'read_uncommitted'. */
  readUncommitted?: boolean;
}

/**
 * Reads topics from the beginning, in a fresh consumer group, until `count` records arrived (or, with
 * `settleMs`, until no new record came for that long after reaching count). read_committed by default.
 */
export async function consumeAll(
  topics: string | string[],
  opts: ConsumeAllOptions = { count: 1 },
): Promise<ConsumedRecord[]> {
  const kafka = testKafka('test-reader');
  const consumer = kafka.consumer({
    groupId: uniqueName('reader'),
    readUncommitted: opts.isolation === 'read_uncommitted' || opts.readUncommitted === true,
    maxWaitTimeInMs: 100,
  });
  const records: ConsumedRecord[] = [];
  await consumer.connect();
  try {
    for (const topic of Array.isArray(topics) ? topics : [topics])
      await consumer.subscribe({ topic, fromBeginning: true });
    let lastAt = Date.now();
    let sentinelSeen = false;
    await consumer.run({
      eachMessage: async ({
        topic,
        partition,
        message,
      }: {
        topic: string;
        partition: number;
        message: KafkaMessage;
      }) => {
        const r: ConsumedRecord = {
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: headersToStrings(message.headers),
        };
        records.push(r);
        if (opts.until?.(r)) sentinelSeen = true;
        lastAt = Date.now();
      },
    });
    const enough = () => (opts.until ? sentinelSeen : records.length >= opts.count);
    await waitFor(() => enough() && Date.now() - lastAt >= (opts.settleMs ?? 0), {
      timeoutMs: opts.timeoutMs ?? 20_000,
      intervalMs: 50,
      what: `${opts.count} records on ${String(topics)} (got ${records.length})`,
    }).catch((err) => {
      throw new Error(`${(err as Error).message}; got ${records.length}`);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
