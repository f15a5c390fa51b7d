/** outbox-processor configuration: one zod schema over the environment, parsed once. */
import { z } from 'zod';
import { commonEnv, env, ledgerEnv, loadConfig, scheduleEnv } from '../shared/config/load-config';
import { LEDGER_LINGER_MS_DEFAULT } from '../shared/ledger/ledger-record';

export const outboxConfigSchema = z.object({
  ...commonEnv,
  ...ledgerEnv,
  GROUP_ID: z
    .string()
    .default('integration-hub-outbox-processor')
    .describe(
      'Consumer group of the outbox topics (the directory uses `<GROUP_ID>-directory`); scale out by running more instances.',
    ),
  TOPIC_PARTITIONS: env
    .int(6, 1, 1000)
    .describe('Partitions of the topics this service writes when it creates them (only if missing: DLT, ledger).'),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10).describe('Replication factor of the topics this service creates.'),
  PORT: env.port(8082).describe('Port of the health and metrics server (`0` = any free port).'),
  HOST: z.string().default('0.0.0.0').describe('Interface the health and metrics server binds to.'),
  HUB_ENCRYPTION_KEYS: z
    .string()
    .min(1, 'required: "<id>:<base64 of 32 bytes>" (the key subscription-api seals secrets with)')
    .describe('The key(s) subscription-api seals subscription secrets with: `<keyId>:<base64 of 32 bytes>[,…]`.'),
  ENDPOINT_ALLOW_HOSTS: env
    .list([])
    .describe("Hosts allowed although they are or resolve to internal addresses (same list as subscription-api's)."),
  // In-process retries, seconds in all (see shared/delivery/retry-policy.ts); what needs longer is parked in the
  // durable schedule (DELIVERY_RETRY_SCHEDULE, run by the dlt-processor).
  MAX_ATTEMPTS: env
    .int(3, 1, 50)
    .describe(
      "In-process attempts per record before it is parked in the durable schedule; a subscription's `maxAttempts` overrides it.",
    ),
  RETRY_BASE_MS: env
    .int(500, 1)
    .describe('Backoff base: exponential with full jitter (`shared/delivery/retry-policy.ts`).'),
  RETRY_MAX_MS: env
    .int(2_000, 1)
    .describe('Cap on one in-process wait; a longer `Retry-After` parks the record at once (the schedule honours it).'),
  RETRY_MAX_TOTAL_MS: env
    .int(5_000, 1)
    .describe('Bound on the in-process retries of one record: a sick endpoint never holds a consumer slot for long.'),
  DATABASE_URL: z
    .string()
    .min(1, 'required: postgresql://user@host:5432/db (ordered lanes are parked there)')
    .describe("Postgres: an ordered subscription's failed or held records are parked there directly, in lane order."),
  ...scheduleEnv,
  ORDERED_LANE_QUEUE: env
    .int(32, 1)
    .describe(
      "Records one ordered lane may have waiting in this process behind its head (at most a quarter of a partition's slots); beyond it they are parked in order, so a hanging ordered endpoint takes no more than its share.",
    ),
  // Concurrency bounds.
  MAX_IN_FLIGHT: env.int(2000, 1).describe('Records in flight in this instance, in total.'),
  MAX_IN_FLIGHT_BYTES: env
    .int(64 * 1024 * 1024, 1024)
    .describe(
      'Bytes of records (key, value, headers) in flight in this instance, in total; a record larger than this is still taken, alone.',
    ),
  MAX_IN_FLIGHT_PER_PARTITION: env.int(500, 1).describe('Records in flight per partition.'),
  PER_ENDPOINT_CONCURRENCY: env
    .int(32, 1)
    .describe('Concurrent requests (and pooled connections) per endpoint origin.'),
  PER_ENDPOINT_QUEUE: env
    .int(1000, 1)
    .describe(
      'Records waiting for one endpoint beyond this go to the DLT (`DELIVERY.ENDPOINT_SATURATED`) if the endpoint is stalled; capped at half of `MAX_IN_FLIGHT_PER_PARTITION`.',
    ),
  ENDPOINT_STALL_MS: env
    .int(1000, 1)
    .describe(
      'An endpoint that delivered nothing for this long is stalled: its queue overflow is shed to the DLT (`endpoint-gate.ts`); a busy endpoint that keeps delivering is waited for.',
    ),
  PARTITIONS_CONCURRENTLY: env.int(4, 1).describe('Partitions fetched and processed in parallel.'),
  // HTTP (see shared/delivery/send.undici.ts).
  CONNECT_TIMEOUT_MS: env.int(5_000, 1).describe('HTTP connect timeout.'),
  HEADERS_TIMEOUT_MS: env.int(10_000, 1).describe('HTTP timeout until the response headers.'),
  BODY_TIMEOUT_MS: env.int(10_000, 1).describe('HTTP timeout between response body chunks.'),
  REQUEST_TIMEOUT_MS: env.int(30_000, 1).describe('Bound on one whole HTTP exchange.'),
  MAX_RESPONSE_BYTES: env
    .int(64 * 1024, 1)
    .describe('Response body read at most this far, then the connection is dropped.'),
  POOL_IDLE_MS: env.int(60_000, 1000).describe("An endpoint's connection pool is closed after this long unused."),
  // Per-endpoint circuit breaker (see shared/delivery/circuit-breaker.ts).
  BREAKER_WINDOW_MS: env.int(10_000, 100).describe('Circuit breaker: window over which failures are counted.'),
  BREAKER_MIN_REQUESTS: env.int(20, 1).describe('Circuit breaker: requests in the window before it can open.'),
  BREAKER_FAILURE_RATIO: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe('Circuit breaker: failure ratio in the window that opens it.'),
  BREAKER_OPEN_MS: env
    .int(5_000, 1)
    .describe('Circuit breaker: time open (records go to the DLT, `DELIVERY.CIRCUIT_OPEN`) before probing.'),
  BREAKER_HALF_OPEN_PROBES: env.int(1, 1).describe('Circuit breaker: probe requests let through when half-open.'),
  COMMIT_INTERVAL_MS: env.int(200, 10).describe('How often the contiguous completed offsets are committed.'),
  LEDGER_LINGER_MS: env
    .int(LEDGER_LINGER_MS_DEFAULT, 0)
    .describe(
      "How long outcome records gather into one delivery-ledger bundle before it is produced (acks=-1); a record's offset is committed after its bundle is acknowledged, every COMMIT_INTERVAL_MS anyway. Fewer, larger produces: at 5 ms the broker's and this process's CPU per delivery rose by 3 and 4-7 CPU-s per 100,000 deliveries, at 25 ms by 0.5 and ~0 (BENCHMARKS.md, 2026-12-03).",
    ),
  SESSION_TIMEOUT_MS: env
    .int(10_000, 6_000)
    .describe(
      "Consumer group session timeout: how fast a crashed instance's partitions move to the others, and how soon a restarted instance is back.",
    ),
  REBALANCE_DRAIN_MS: env
    .int(5_000, 0)
    .describe(
      'On a rebalance, wait this long for in-flight records and commit them before re-joining (fewer redeliveries).',
    ),
  SHUTDOWN_GRACE_MS: env
    .int(15_000, 0)
    .describe('On SIGTERM: time for in-flight deliveries before the commit and exit.'),
});
export type OutboxConfig = z.infer<typeof outboxConfigSchema>;

export const loadOutboxConfig = (e: Record<string, string | undefined> = process.env) =>
  loadConfig('outbox-processor', outboxConfigSchema, e);
