/** subscription-api configuration: one zod schema over the environment, parsed once (see the README table). */
import { z } from 'zod';
import { commonEnv, env, loadConfig } from '../pipeline/shared/config/load-config';
import { parseHubKeys } from '../pipeline/shared/crypto/secret-box';

export const subscriptionApiEnv = z.object({
  ...commonEnv,
  PORT: env.port(8080),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().min(1, 'a Postgres URL is required'),
  /** `id:base64(32 bytes),...` — first is the primary. Required: the service refuses to start without it. */
  HUB_ENCRYPTION_KEYS: z
    .string({ error: 'required: "<keyId>:<base64 of 32 bytes>[,...]" (encrypts secrets at rest)' })
    .min(1, 'required: "<keyId>:<base64 of 32 bytes>[,...]"')
    .superRefine((spec, ctx) => {
      try {
        parseHubKeys(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid key spec' });
      }
    }),
  /** Bootstrap operator key, ensured to exist (hashed) at start. */
  OPERATOR_API_KEY: z.string().min(24, 'at least 24 characters (e.g. an ihk_... key)').optional(),
  ENDPOINT_ALLOW_HOSTS: env.list([]),
  ENDPOINT_REQUIRE_HTTPS: env.bool(true),
  /** Resolve endpoint host names at validation time and reject internal addresses. */
  ENDPOINT_RESOLVE_DNS: env.bool(true),
  RATE_LIMIT_PER_MINUTE: env.int(600, 1),
  BODY_LIMIT_BYTES: env.int(64 * 1024, 1024, 10 * 1024 * 1024),
  API_KEY_CACHE_TTL_MS: env.int(30_000, 0),
  SECRET_ROTATION_OVERLAP_HOURS: env.int(24, 0, 24 * 30),
  /** Fallback poll interval of the changelog relay (it is also woken by LISTEN/NOTIFY). */
  RELAY_INTERVAL_MS: env.int(250, 10, 60_000),
  RELAY_BATCH_SIZE: env.int(500, 1, 10_000),
  SUBSCRIPTIONS_TOPIC_PARTITIONS: env.int(6, 1, 1000),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1, 10),
  SHUTDOWN_GRACE_MS: env.int(10_000, 0),
});

export type SubscriptionApiConfig = z.infer<typeof subscriptionApiEnv>;

export function loadSubscriptionApiConfig(
  source: Record<string, string | undefined> = process.env,
): SubscriptionApiConfig {
  return loadConfig('subscription-api', subscriptionApiEnv, source);
}
