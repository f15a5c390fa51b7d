/** Topic admin: idempotent creation with partitions and compaction where asked. */
import type { Admin } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions?: number;
  replicationFactor?: number;
  compact?: boolean;
  configEntries?: { name: string; value: string }[];
}

/** Creates the topics that do not exist yet; existing topics are left as they are. Returns the created names. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions ?? 6,
        replicationFactor: s.replicationFactor ?? 1,
        configEntries: [
          ...(s.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
          ...(s.configEntries ?? []),
        ],
      })),
    });
  } catch (err) {
    // Another instance may have created them concurrently: fine if they exist now.
    const now = new Set(await admin.listTopics());
    if (!missing.every((s) => now.has(s.topic))) throw err;
  }
  return missing.map((s) => s.topic);
}
