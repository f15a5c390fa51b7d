/** event-processor configuration: one zod schema over the environment, parsed once (see README.md). */
import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, env, grpcEnv, ledgerEnv, loadConfig } from '../shared/config/load-config';
import { parseHubKeys } from '../shared/crypto/secret-box';
import { DEFAULT_INGEST_TOPIC } from '../shared/topics';
import { DEFAULT_MAX_EVENT_BYTES } from './decode-input';

export const eventProcessorEnv = z.object({
  ...commonEnv,
  ...ledgerEnv,
  ...grpcEnv(9091),
  INGEST_TOPICS: env
    .list([DEFAULT_INGEST_TOPIC])
    .refine((l) => l.length > 0, 'at least one ingest topic')
    .describe('Ingest topics to consume; HTTP ingest produces to the first. The launcher sets it from `INGEST_TOPIC`.'),
  TOPIC_PARTITIONS: env
    .int(6, 1, 1000)
    .describe(
      'Partitions of the topics this service creates when they are missing (ingest, outbox, quarantine, audit, ledger, facts, subscriptions).',
    ),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10).describe('Replication factor of the topics this service creates.'),
  GROUP_ID: z
    .string()
    .min(1)
    .default('integration-hub-event-processor')
    .describe(
      'Consumer group of the ingest consumer (the directory uses `<GROUP_ID>-directory`); also the prefix of the transactional ids.',
    ),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - (at most 100)')
    .optional()
    .describe(
      "Stable per instance (survives restarts): part of the transactional ids, so a restarted instance fences its predecessor's producers and aborts their open transactions at once. Unset: `i<SERVICE_INSTANCE>`, else the host name.",
    ),
  SERVICE_INSTANCE: z
    .string()
    .optional()
    .describe('Instance number the launcher sets (`0`, `1`, …); used for the instance id when `INSTANCE_ID` is unset.'),
  PORT: env.port(8081).describe('HTTP port: ingest, health, metrics (`0` = any free port).'),
  HOST: z.string().default('0.0.0.0').describe('Interface the HTTP server binds to.'),
  CONCURRENCY: env.int(4, 1, 64).describe('Partitions processed at once (two transactional producers each).'),
  MAX_BATCH_RECORDS: env
    .int(500, 1, 100_000)
    .describe('Records per transaction at most; a larger fetched batch is committed in chunks.'),
  MAX_EVENT_BYTES: env
    .int(DEFAULT_MAX_EVENT_BYTES, 1024, 16 * 1024 * 1024)
    .describe(
      'Size limit of one event (value + headers); larger records are quarantined (`INGEST.TOO_LARGE`), larger HTTP events are a 413.',
    ),
  HTTP_MAX_BATCH_EVENTS: env.int(1000, 1, 100_000).describe('Events per HTTP batch request at most (413 above).'),
  HTTP_BODY_LIMIT_BYTES: env
    .int(5 * 1024 * 1024, 1024, 64 * 1024 * 1024)
    .describe('Body size limit of an HTTP ingest request (413 above).'),
  TRANSACTION_TIMEOUT_MS: env
    .int(30_000, 1000, 900_000)
    .describe('Kafka transaction timeout of the fan-out producers: the broker aborts a transaction left open longer.'),
  KAFKA_SESSION_TIMEOUT_MS: env
    .int(10_000, 1000, 300_000)
    .describe(
      "Consumer group session timeout: a crashed instance's partitions move after this long, and a restarted one is back after it (the broker allows 6 s – 5 min by default).",
    ),
  SCHEMA_REGISTRY_URL: z
    .url()
    .optional()
    .describe(
      'Confluent-compatible schema registry for wire-format (magic byte 0) records; unset: such records are quarantined (`INGEST.NO_SCHEMA_REGISTRY`).',
    ),
  SCHEMA_REGISTRY_USERNAME: z.string().optional().describe('Basic-auth user of the schema registry.'),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional().describe('Basic-auth password of the schema registry.'),
  DATABASE_URL: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Postgres with the API keys (HTTP ingest auth). Unset: `POST /v1/events` is not served, Kafka ingest only.',
    ),
  API_KEY_CACHE_TTL_MS: env
    .int(30_000, 0)
    .describe('How long a verified API key is cached; revocations apply within this.'),
  RATE_LIMIT_PER_MINUTE: env.int(6000, 1).describe('HTTP ingest requests per API key and minute (429 above).'),
  HUB_ENCRYPTION_KEYS: z
    .string()
    .min(1)
    .optional()
    .superRefine((spec, ctx) => {
      if (spec === undefined) return;
      try {
        parseHubKeys(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid key spec' });
      }
    })
    .describe(
      '`<keyId>:<base64 of 32 bytes>[,…]`, the same keys as the subscription-api: opens inbound-source secrets. Unset (or no `DATABASE_URL`): `POST /v1/inbound/{sourceId}` is not served.',
    ),
  INBOUND_BODY_LIMIT_BYTES: env
    .int(1024 * 1024, 1024, 16 * 1024 * 1024)
    .describe('Body size limit of an inbound webhook (413 above; the event must also fit `MAX_EVENT_BYTES`).'),
  INBOUND_RATE_LIMIT_PER_MINUTE: env
    .int(6000, 1)
    .describe('Inbound webhooks per source and minute (429 with `Retry-After` above).'),
  INBOUND_DEDUPE_WINDOW_HOURS: env
    .int(72, 1, 24 * 30)
    .describe(
      "How long a vendor's delivery id is remembered: a retry within it is answered 200 and not produced again (Stripe retries for up to 3 days).",
    ),
  INBOUND_SOURCE_CACHE_TTL_MS: env
    .int(5000, 0, 600_000)
    .describe('How long an inbound source is cached; changes (secret rotation, allow-list, delete) apply within this.'),
  FACTS_DELIVERED: env
    .factsDelivered()
    .describe(
      "WebhookDelivered facts of accepted inbound webhooks (`<prefix>.facts.webhooks.v1`, `direction: inbound`, produced with the event before the 2xx): `all`, `none`, or `sample:N` (about one in N, chosen by a hash of the fact id), as the dlt-processor's `FACTS_DELIVERED` for deliveries. At `all` each accepted inbound webhook is one more record.",
    ),
  SHUTDOWN_GRACE_MS: env
    .int(15_000, 0)
    .describe('On SIGTERM: time to finish and commit the running chunk before the process exits anyway.'),
});

export type EventProcessorConfig = z.infer<typeof eventProcessorEnv> & { instanceId: string };

export function loadEventProcessorConfig(
  source: Record<string, string | undefined> = process.env,
): EventProcessorConfig {
  const c = loadConfig('event-processor', eventProcessorEnv, source);
  const instanceId = c.INSTANCE_ID ?? (c.SERVICE_INSTANCE !== undefined ? `i${c.SERVICE_INSTANCE}` : hostname());
  return { ...c, instanceId: instanceId.replace(/[^A-Za-z0-9._-]/g, '_') };
}
