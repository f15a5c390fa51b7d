/** event-processor configuration: one zod schema over the environment, parsed once (see README.md). */
import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, env, loadConfig } from '../shared/config/load-config';
import { DEFAULT_INGEST_TOPIC } from '../shared/topics';
import { DEFAULT_MAX_EVENT_BYTES } from './decode-input';

export const eventProcessorEnv = z.object({
  ...commonEnv,
  /** Ingest topics, comma-separated. */
  INGEST_TOPICS: env.list([DEFAULT_INGEST_TOPIC]).refine((l) => l.length > 0, 'at least one ingest topic'),
  /** Partitions of topics this service creates when they are missing. */
  TOPIC_PARTITIONS: env.int(6, 1, 1000),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10),
  GROUP_ID: z.string().min(1).default('integration-hub-event-processor'),
  /**
   * Stable per instance (survives restarts): part of the transactional ids, so a restarted instance fences its
   * predecessor's producers and aborts their open transactions at once. The launcher sets SERVICE_INSTANCE.
   */
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - (at most 100)')
    .optional(),
  SERVICE_INSTANCE: z.string().optional(),
  PORT: env.port(8081),
  HOST: z.string().default('0.0.0.0'),
  /** Partitions processed at once (one transactional producer each). */
  CONCURRENCY: env.int(4, 1, 64),
  /** Records per transaction at most; a larger fetched batch is committed in chunks. */
  MAX_BATCH_RECORDS: env.int(500, 1, 100_000),
  MAX_EVENT_BYTES: env.int(DEFAULT_MAX_EVENT_BYTES, 1024, 16 * 1024 * 1024),
  /** Events per HTTP batch request at most. */
  HTTP_MAX_BATCH_EVENTS: env.int(1000, 1, 100_000),
  HTTP_BODY_LIMIT_BYTES: env.int(5 * 1024 * 1024, 1024, 64 * 1024 * 1024),
  TRANSACTION_TIMEOUT_MS: env.int(30_000, 1000, 900_000),
  /** A crashed instance's partitions move after this long (the broker allows 6 s - 5 min by default). */
  KAFKA_SESSION_TIMEOUT_MS: env.int(30_000, 1000, 300_000),
  SCHEMA_REGISTRY_URL: z.url().optional(),
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  /** Postgres with the API keys (HTTP ingest auth). Without it, POST /v1/events is not served. */
  DATABASE_URL: z.string().min(1).optional(),
  API_KEY_CACHE_TTL_MS: env.int(30_000, 0),
  RATE_LIMIT_PER_MINUTE: env.int(6000, 1),
  SHUTDOWN_GRACE_MS: env.int(15_000, 0),
});

export type EventProcessorConfig = z.infer<typeof eventProcessorEnv> & { instanceId: string };

export function loadEventProcessorConfig(
  source: Record<string, string | undefined> = process.env,
): EventProcessorConfig {
  const c = loadConfig('event-processor', eventProcessorEnv, source);
  const instanceId = c.INSTANCE_ID ?? (c.SERVICE_INSTANCE !== undefined ? `i${c.SERVICE_INSTANCE}` : hostname());
  return { ...c, instanceId: instanceId.replace(/[^A-Za-z0-9._-]/g, '_') };
}
