/** outbox-processor configuration: one zod schema over the environment, parsed once. */
import { z } from 'zod';
import { commonEnv, env, loadConfig, scheduleEnv } from '../shared/config/load-config';

export const outboxConfigSchema = z.object({
  ...commonEnv,
  GROUP_ID: z.string().default('integration-hub-outbox-processor'),
  PORT: env.port(8082),
  HOST: z.string().default('0.0.0.0'),
  HUB_ENCRYPTION_KEYS: z
    .string()
    .min(1, 'required: "<id>:<base64 of 32 bytes>" (the key subscription-api seals secrets with)'),
  /** Hosts allowed although they are or resolve to internal addresses (same list as subscription-api's). */
  ENDPOINT_ALLOW_HOSTS: env.list([]),
  // In-process retries, seconds in all (see shared/delivery/retry-policy.ts); a subscription's maxAttempts overrides
  // MAX_ATTEMPTS. What needs longer is parked in the durable schedule (DELIVERY_RETRY_SCHEDULE, dlt-processor).
  MAX_ATTEMPTS: env.int(3, 1, 50),
  RETRY_BASE_MS: env.int(500, 1),
  RETRY_MAX_MS: env.int(2_000, 1),
  RETRY_MAX_TOTAL_MS: env.int(5_000, 1),
  /** Postgres: an ordered subscription's lane is parked there directly, in order (see outbox.kafka.ts). */
  DATABASE_URL: z.string().min(1, 'required: postgresql://user@host:5432/db (ordered lanes are parked there)'),
  ...scheduleEnv,
  /**
   * Records one ordered lane may have waiting in this process behind its head; beyond it they are parked in
   * Postgres in order, so a hanging ordered endpoint takes no more than its share of a partition's slots.
   */
  ORDERED_LANE_QUEUE: env.int(32, 1),
  // Concurrency bounds.
  MAX_IN_FLIGHT: env.int(2000, 1),
  MAX_IN_FLIGHT_PER_PARTITION: env.int(500, 1),
  PER_ENDPOINT_CONCURRENCY: env.int(32, 1),
  PER_ENDPOINT_QUEUE: env.int(1000, 1),
  /** An endpoint that delivered nothing for this long has its queue overflow shed to the DLT (endpoint-gate.ts). */
  ENDPOINT_STALL_MS: env.int(1000, 1),
  PARTITIONS_CONCURRENTLY: env.int(4, 1),
  // HTTP (see shared/delivery/send.ts).
  CONNECT_TIMEOUT_MS: env.int(5_000, 1),
  HEADERS_TIMEOUT_MS: env.int(10_000, 1),
  BODY_TIMEOUT_MS: env.int(10_000, 1),
  REQUEST_TIMEOUT_MS: env.int(30_000, 1),
  MAX_RESPONSE_BYTES: env.int(64 * 1024, 1),
  POOL_IDLE_MS: env.int(60_000, 1000),
  // Per-endpoint circuit breaker (see shared/delivery/circuit-breaker.ts).
  BREAKER_WINDOW_MS: env.int(10_000, 100),
  BREAKER_MIN_REQUESTS: env.int(20, 1),
  BREAKER_FAILURE_RATIO: z.coerce.number().min(0).max(1).default(0.5),
  BREAKER_OPEN_MS: env.int(5_000, 1),
  BREAKER_HALF_OPEN_PROBES: env.int(1, 1),
  COMMIT_INTERVAL_MS: env.int(200, 10),
  /** Consumer group session timeout: how fast a crashed instance's partitions move to the others. */
  SESSION_TIMEOUT_MS: env.int(30_000, 6_000),
  /** On a rebalance, wait this long for in-flight records and commit them before re-joining (fewer redeliveries). */
  REBALANCE_DRAIN_MS: env.int(5_000, 0),
  SHUTDOWN_GRACE_MS: env.int(15_000, 0),
});
export type OutboxConfig = z.infer<typeof outboxConfigSchema>;

export const loadOutboxConfig = (e: Record<string, string | undefined> = process.env) =>
  loadConfig('outbox-processor', outboxConfigSchema, e);
