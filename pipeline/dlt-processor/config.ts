/** dlt-processor configuration: one zod schema over the environment, parsed once. */
import { z } from 'zod';
import { commonEnv, env, loadConfig, scheduleEnv } from '../shared/config/load-config';

export const dltConfigSchema = z.object({
  ...commonEnv,
  DATABASE_URL: z.string().min(1, 'required: postgresql://user@host:5432/db'),
  HUB_ENCRYPTION_KEYS: z
    .string()
    .min(1, 'required: "<id>:<base64 of 32 bytes>" (the key subscription-api seals secrets with)'),
  GROUP_ID: z.string().default('integration-hub-dlt-processor'),
  /** Used only when the DLT/changelog/audit topics do not exist yet (created like the other services do). */
  TOPIC_PARTITIONS: env.int(6, 1, 1000),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10),
  PORT: env.port(8083),
  HOST: z.string().default('0.0.0.0'),
  ENDPOINT_ALLOW_HOSTS: env.list([]),
  SCHEDULER_INTERVAL_MS: env.int(1000, 10),
  /**
   * An ordered record parked as LANE_WAIT (its lane's earlier records were still in an outbox-processor) is released
   * by that process; if it crashed first, the scheduler releases it after this long.
   */
  LANE_WAIT_RELEASE_MS: env.int(120_000, 1000),
  SCHEDULER_BATCH_SIZE: env.int(200, 1),
  SCHEDULER_CONCURRENCY: env.int(16, 1),
  /**
   * Requests open at once to one endpoint origin from this process (its connection pool's size): retries and
   * replays of a slow subscriber must not pile onto it beyond what the outbox-processor would send.
   */
  PER_ENDPOINT_CONCURRENCY: env.int(8, 1),
  REQUEST_TIMEOUT_MS: env.int(30_000, 1),
  /**
   * The durable retry schedule (retry-schedule.ts): delays between scheduled attempts, default about 28 hours in
   * all; a subscription's `retrySchedule` overrides it. The seed's "3 attempts, 3 s apart" is `3s,3s,3s`.
   */
  ...scheduleEnv,
  CLAIM_LEASE_MS: env.int(60_000, 1000),
  REPLAY_CONCURRENCY: env.int(16, 1),
  RATE_LIMIT_PER_MINUTE: env.int(600, 0),
  CLEANUP_ENABLED: env.bool(false),
  CLEANUP_INTERVAL_MS: env.int(3_600_000, 1000),
  RETENTION_HOURS: env.int(168, 1),
  SHUTDOWN_GRACE_MS: env.int(15_000, 0),
  /** Apply pending migrations at start (normally the launcher or `npm run migrate` does it). */
  MIGRATE_ON_START: env.bool(false),
  STATS_REFRESH_MS: env.int(5000, 100),
});
export type DltConfig = z.infer<typeof dltConfigSchema>;
export const loadDltConfig = (e: Record<string, string | undefined> = process.env) =>
  loadConfig('dlt-processor', dltConfigSchema, e);
