/** dlt-processor configuration: one zod schema over the environment, parsed once. */
import { z } from 'zod';
import { commonEnv, env, ledgerEnv, loadConfig, scheduleEnv } from '../shared/config/load-config';
import { DEFAULT_INGEST_TOPIC } from '../shared/topics';

export const dltConfigSchema = z.object({
  ...commonEnv,
  ...ledgerEnv,
  DATABASE_URL: z
    .string()
    .min(1, 'required: postgresql://user@host:5432/db')
    .describe('Postgres that holds the failed deliveries and their attempts.'),
  HUB_ENCRYPTION_KEYS: z
    .string()
    .min(1, 'required: "<id>:<base64 of 32 bytes>" (the key subscription-api seals secrets with)')
    .describe('The key(s) subscription-api seals subscription secrets with: `<keyId>:<base64 of 32 bytes>[,…]`.'),
  GROUP_ID: z
    .string()
    .default('integration-hub-dlt-processor')
    .describe(
      'Consumer group of the DLT topics (the directory uses `<GROUP_ID>-directory`, the ledger writer `<GROUP_ID>-ledger`).',
    ),
  TOPIC_PARTITIONS: env
    .int(6, 1, 1000)
    .describe(
      'Partitions of the DLT, subscriptions and audit topics when this service creates them (only if missing).',
    ),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10).describe('Replication factor of the topics this service creates.'),
  PORT: env.port(8083).describe('Port of the failed-events API, health and metrics (`0` = any free port).'),
  HOST: z.string().default('0.0.0.0').describe('Interface the HTTP server binds to.'),
  ENDPOINT_ALLOW_HOSTS: env
    .list([])
    .describe(
      "Hosts allowed although they are or resolve to internal addresses (same list as the outbox-processor's).",
    ),
  SESSION_TIMEOUT_MS: env
    .int(30_000, 6_000)
    .describe(
      "Session timeout of the DLT and ledger consumer groups: how fast a crashed instance's partitions move, and how soon a restarted instance is back. 30 s (Kafka's own default is 45 s): the service runs at background priority (SCHED_IDLE under the launcher), and on a host saturated by the delivery path it can get no CPU for over 10 s, miss its heartbeats and be put out of both groups (a rebalance, and its batches in flight read again).",
    ),
  SCHEDULER_INTERVAL_MS: env
    .int(1000, 10)
    .describe('How often the scheduler claims due rows (a scheduled retry is on time to within one tick).'),
  LANE_WAIT_RELEASE_MS: env
    .int(120_000, 1000)
    .describe(
      'An ordered record parked as LANE_WAIT is released by the outbox-processor that parked it; if that one crashed first, the scheduler releases it after this long.',
    ),
  SCHEDULER_BATCH_SIZE: env.int(200, 1).describe('Rows the scheduler claims per round.'),
  SCHEDULER_CONCURRENCY: env.int(16, 1).describe('Scheduled retries delivered in parallel.'),
  PER_ENDPOINT_CONCURRENCY: env
    .int(8, 1)
    .describe(
      "Requests open at once to one endpoint origin from this process (its connection pool's size): retries and replays of a slow subscriber must not pile onto it beyond what the outbox-processor would send.",
    ),
  REQUEST_TIMEOUT_MS: env.int(30_000, 1).describe('Bound on one whole HTTP exchange.'),
  ...scheduleEnv,
  CLAIM_LEASE_MS: env
    .int(60_000, 1000)
    .describe('A claimed row of a crashed instance is free to claim again after this long.'),
  REPLAY_CONCURRENCY: env.int(16, 1).describe('Deliveries of a bulk replay in parallel.'),
  RATE_LIMIT_PER_MINUTE: env.int(600, 0).describe('API requests per API key and minute (429 above); `0` = off.'),
  CLEANUP_ENABLED: env
    .bool(false)
    .describe('Delete `DELIVERED` and `REPLAYED` rows resolved more than `RETENTION_HOURS` ago.'),
  CLEANUP_INTERVAL_MS: env.int(3_600_000, 1000).describe('How often the cleanup runs (when enabled).'),
  RETENTION_HOURS: env.int(168, 1).describe('Age of resolved rows the cleanup deletes.'),
  LEDGER_ENABLED: env
    .bool(true)
    .describe(
      'Run the ledger writer: the delivery ledger topic (`<prefix>.ledger.v1`) and the events on the outbox topics into Postgres (events, deliveries, attempts).',
    ),
  FACTS_DELIVERED: env
    .factsDelivered()
    .describe(
      'WebhookDelivered facts (`<prefix>.facts.webhooks.v1`, written with the ledger): `all`, `none`, or `sample:N` (about one delivery in N, chosen by a hash of the fact id). At `all` the hub produces one more record per delivery. IntegrationFailed facts are never sampled.',
    ),
  STREAM_ENABLED: env
    .bool(true)
    .describe("Serve `GET /v1/stream`: a WebSocket stream of the caller's events (one Kafka consumer per connection)."),
  STREAM_BUFFER_BYTES: env
    .int(1_048_576, 1024)
    .describe(
      'Unsent bytes a stream connection may hold; past this the client is closed with code 4008 (slow consumer).',
    ),
  STREAM_PING_MS: env
    .int(15_000, 100)
    .describe('Stream heartbeat: a ping this often; a connection with no pong by the next ping is dropped.'),
  STREAM_MAX_PER_KEY: env.int(5, 1).describe('Open streams per API key (429 before the upgrade above).'),
  STREAM_MAX_PER_TENANT: env
    .int(20, 1)
    .describe('Open streams per tenant (operator streams of every tenant count as one tenant, `*`).'),
  LOG_RETENTION_DAYS: env
    .int(14, 1)
    .describe(
      'Days the delivery ledger keeps: whole day partitions (UTC, by when the event was received) older than this are dropped, at start and hourly.',
    ),
  SHUTDOWN_GRACE_MS: env
    .int(15_000, 0)
    .describe('On SIGTERM: stop consuming, finish the retry round, end bulk jobs (`FAILED`, "interrupted"), close.'),
  MIGRATE_ON_START: env
    .bool(false)
    .describe('Apply pending migrations at start (normally the launcher or `npm run migrate` does it).'),
  INGEST_TOPICS: env
    .list([DEFAULT_INGEST_TOPIC])
    .describe(
      "The event-processor's ingest topics: the consumer lag on them is part of the console's overview (`GET /v1/stats/overview`).",
    ),
  SUBSCRIPTION_API_URL: z
    .url()
    .optional()
    .describe(
      "The subscription-api's base URL: the operator console's subscription pages call it through `/console/api/subscriptions` with the caller's key (the launcher sets it); unset, those pages answer 503.",
    ),
  CONSOLE_DIR: z
    .string()
    .min(1)
    .optional()
    .describe('Folder of the built operator console served at `/console` (default `dist/console` of this checkout).'),
  STATS_REFRESH_MS: env
    .int(5000, 100)
    .describe('How often the status gauges (`hub_dlt_failed_events`, …) are refreshed.'),
});
export type DltConfig = z.infer<typeof dltConfigSchema>;
export const loadDltConfig = (e: Record<string, string | undefined> = process.env) =>
  loadConfig('dlt-processor', dltConfigSchema, e);
