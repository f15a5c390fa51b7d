/** Topic admin: idempotent creation with partitions and compaction where asked. */
import type { Admin, Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions?: number;
  /** Alias of `partitions` (kafkajs' name). */
  numPartitions?: number;
  replicationFactor?: number;
  compact?: boolean;
  configEntries?: { name: string; value: string }[];
}

/**
 * Creates the topics that do not exist yet; existing topics are left as they are (not re-partitioned or
 * re-configured). Returns the names it created. Takes a connected Admin, or a Kafka (then it opens and closes
 * its own admin). Default 6 partitions, replication factor 1 (-1 would mean the broker default).
 */
export async function ensureTopics(
  target: Admin | Kafka,
  specs: TopicSpec[],
  opts: { listedWithinMs?: number } = {},
): Promise<string[]> {
  if ('admin' in target && typeof target.admin === 'function') {
    const admin = target.admin();
    await admin.connect();
    try {
      return await ensureTopics(admin, specs, opts);
    } finally {
      await admin.disconnect();
    }
  }
  const admin = target as Admin;
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions ?? s.numPartitions ?? 6,
        replicationFactor: s.replicationFactor ?? 1,
        configEntries: [
          ...(s.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
          ...(s.configEntries ?? []),
        ],
      })),
    });
  } catch (err) {
    // Another instance may have created them concurrently: fine if they exist now. Or the broker created them and
    // answered kafkajs's wait for their leaders with UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this
    // topic-partition": a KRaft broker's metadata not yet caught up, which kafkajs does not retry): they show up
    // within moments, so the listing is asked again for a while before the error stands.
    if (!(await listedWithin(admin, missing, opts.listedWithinMs ?? LISTED_WITHIN_MS))) throw err;
  }
  return missing.map((s) => s.topic);
}

const LISTED_WITHIN_MS = 10_000;

async function listedWithin(admin: Admin, specs: TopicSpec[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = new Set(await admin.listTopics());
    if (specs.every((s) => now.has(s.topic))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
