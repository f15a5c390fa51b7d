/** subscription-api configuration: one zod schema over the environment, parsed once (see the README table). */
import { z } from 'zod';
import { commonEnv, env, grpcEnv, loadConfig } from '../pipeline/shared/config/load-config';
import { parseHubKeys } from '../pipeline/shared/crypto/secret-box';

export const subscriptionApiEnv = z.object({
  ...commonEnv,
  ...grpcEnv(9090),
  PORT: env.port(8080).describe('API port (`0` = any free port).'),
  HOST: z.string().default('0.0.0.0').describe('Interface the API binds to.'),
  DATABASE_URL: z.string().min(1, 'a Postgres URL is required').describe('Postgres of the subscription registry.'),
  HUB_ENCRYPTION_KEYS: z
    .string({ error: 'required: "<keyId>:<base64 of 32 bytes>[,...]" (encrypts secrets at rest)' })
    .min(1, 'required: "<keyId>:<base64 of 32 bytes>[,...]"')
    .superRefine((spec, ctx) => {
      try {
        parseHubKeys(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid key spec' });
      }
    })
    .describe(
      '`<keyId>:<base64 of 32 bytes>[,…]`: seals subscription secrets; the first key encrypts, all decrypt. The service refuses to start without it.',
    ),
  OPERATOR_API_KEY: z
    .string()
    .min(24, 'at least 24 characters (e.g. an ihk_... key)')
    .optional()
    .describe('Bootstrap operator key, ensured to exist (hashed) at start.'),
  ENDPOINT_ALLOW_HOSTS: env
    .list([])
    .describe(
      'Hosts exempt from the https rule and the internal-address check (e.g. `127.0.0.1,localhost,::1` locally; `*.corp.example` allowed).',
    ),
  ENDPOINT_REQUIRE_HTTPS: env
    .bool(true)
    .describe('Refuse endpoint URLs that are not `https://` (allowlisted hosts excepted).'),
  ENDPOINT_RESOLVE_DNS: env
    .bool(true)
    .describe('Resolve endpoint and token host names at validation time and reject internal addresses.'),
  RATE_LIMIT_PER_MINUTE: env.int(600, 1).describe('Requests per API key and minute (429 with `Retry-After` above).'),
  BODY_LIMIT_BYTES: env.int(64 * 1024, 1024, 10 * 1024 * 1024).describe('Request body size limit (413 above).'),
  API_KEY_CACHE_TTL_MS: env
    .int(30_000, 0)
    .describe('How long a verified API key is cached; revocations made by other instances apply within this.'),
  SECRET_ROTATION_OVERLAP_HOURS: env
    .int(24, 0, 24 * 30)
    .describe('After a signing-secret rotation, the old secret keeps signing alongside the new one this long.'),
  INBOUND_PUBLIC_BASE_URL: z
    .url()
    .default('http://localhost:8081')
    .describe(
      "Public base URL of the event-processor's HTTP server, as vendors reach it: inbound sources show `<this>/v1/inbound/<id>` as the URL to configure at the vendor.",
    ),
  RELAY_INTERVAL_MS: env
    .int(250, 10, 60_000)
    .describe(
      'Poll interval of the changelog relay while it cannot LISTEN (with LISTEN/NOTIFY it is woken on every change and polls every 5 s as a safety net).',
    ),
  RELAY_BATCH_SIZE: env.int(500, 1, 10_000).describe('Changelog rows the relay publishes per round.'),
  SUBSCRIPTIONS_TOPIC_PARTITIONS: env
    .int(6, 1, 1000)
    .describe('Partitions of the compacted subscriptions topic when this service creates it.'),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10).describe('Replication factor of the subscriptions topic when created.'),
  SHUTDOWN_GRACE_MS: env
    .int(10_000, 0)
    .describe('On SIGTERM: stop accepting, finish requests, drain the relay, then exit anyway after this long.'),
});

export type SubscriptionApiConfig = z.infer<typeof subscriptionApiEnv>;

export function loadSubscriptionApiConfig(
  source: Record<string, string | undefined> = process.env,
): SubscriptionApiConfig {
  return loadConfig('subscription-api', subscriptionApiEnv, source);
}
