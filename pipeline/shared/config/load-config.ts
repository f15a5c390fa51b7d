/**
 * One config loader for every service: a zod schema over the environment, parsed once.
 * Every invalid variable is listed in one error, with what to do.
 */
import { z } from 'zod';
import { DEFAULT_RETRY_SCHEDULE_TEXT, parseSchedule } from '../delivery/retry-schedule';
import { parseDeliveredFactsMode } from '../facts/fact';

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(
      `${service}: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nSet or fix these environment variables (see the README configuration table) and start again.',
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig<S extends z.ZodType>(
  service: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const given = issue.path.length === 1 ? env[String(issue.path[0])] : undefined;
    const shown = given === undefined ? 'unset' : looksSecret(name) ? 'given value hidden' : `got "${given}"`;
    return `${name}: ${issue.message} (${shown})`;
  });
  throw new ConfigError(service, problems);
}

function looksSecret(name: string): boolean {
  return /KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL/i.test(name);
}

/** Metadata value marking a comma-separated list variable (read by scripts/docs-config.ts). */
export const ENV_FORMAT_LIST = 'comma-separated list';

/**
 * Reusable env field helpers (all env values are strings). Give every variable a `.describe('…')`: it is the
 * description column of the README's configuration reference (`npm run docs:config`).
 */
const zod = z;

export const env = {
  int: (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    zod.coerce.number().int().min(min).max(max).default(def),
  bool: (def: boolean) =>
    zod
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  /** A comma-separated list (`ENV_FORMAT_LIST` tells the config reference generator how to show it). */
  list: (def: string[]) =>
    zod
      .string()
      .default(def.join(','))
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .meta({ envFormat: ENV_FORMAT_LIST }),
  port: (def: number) => zod.coerce.number().int().min(0).max(65535).default(def),
  /** A retry schedule: comma-separated durations (`5s,30s,2m,...`), parsed to milliseconds (retry-schedule.ts). */
  schedule: (def: string) =>
    zod
      .string()
      .default(def)
      .transform((v, ctx) => {
        const r = parseSchedule(v);
        if (r.ok) return r.delays;
        ctx.addIssue({ code: 'custom', message: `${r.reason} (e.g. "${DEFAULT_RETRY_SCHEDULE_TEXT}")` });
        return zod.NEVER;
      }),
  /** `FACTS_DELIVERED`: `all` (default), `none` or `sample:N`, parsed to a DeliveredFactsMode (shared/facts/fact.ts). */
  factsDelivered: () =>
    zod
      .string()
      .default('all')
      .refine((v) => parseDeliveredFactsMode(v) !== undefined, 'all, none or sample:N (N from 1 to 999999)')
      .transform((v) => parseDeliveredFactsMode(v)!),
};

/** The delivery ledger (issue 14): the processors emit its records; the dlt-processor writes them. */
export const ledgerEnv = {
  LEDGER_ENABLED: env
    .bool(true)
    .describe(
      'Record every event, delivery and attempt in the delivery ledger (written to Postgres by the dlt-processor: the events from their outbox records, marked `hub-ledger-event`; the outcomes from `<prefix>.ledger.v1`). `false` turns it off (no event log, no replay of delivered events).',
    ),
};

/** The durable retry schedule and its Retry-After cap: the dlt-processor runs it, the outbox-processor parks into it. */
export const scheduleEnv = {
  DELIVERY_RETRY_SCHEDULE: env
    .schedule(DEFAULT_RETRY_SCHEDULE_TEXT)
    .describe(
      "The durable retry schedule: delays between scheduled attempts after the in-process ones, each 1s..7d (about 28 h in all by default; a subscription's `retrySchedule` overrides it). The seed's 3 DLT attempts 3 s apart: `3s,3s,3s`.",
    ),
  RETRY_AFTER_MAX_MS: env.int(3_600_000, 0).describe("Cap on a subscriber's `Retry-After` for a scheduled attempt."),
};

/** Variables every service shares. */
export const commonEnv = {
  NODE_ENV: zod.string().default('development').describe('Accepted for tooling; no service reads it today.'),
  LOG_LEVEL: zod
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level.'),
  KAFKA_BROKERS: env
    .list(['localhost:9092'])
    .refine((l) => l.length > 0, 'at least one broker is required')
    .describe('Kafka bootstrap brokers, `host:port`.'),
  KAFKA_CLIENT_ID: zod
    .string()
    .default('integration-hub')
    .describe('Prefix of the Kafka client ids; the service appends its own name.'),
  TOPIC_PREFIX: zod
    .string()
    .default('integration-hub')
    .describe('Prefix of the hub topics (`<prefix>.outbox.<domain>.v1`, …); the same in every service.'),
};

/** The gRPC server of a service (issue 17); `defaultPort` differs per service. */
export const grpcEnv = (defaultPort: number) => ({
  GRPC_ENABLED: env.bool(true).describe('Serve the gRPC API (health and reflection included).'),
  GRPC_PORT: env.port(defaultPort).describe('gRPC port (`0` = any free port).'),
  GRPC_HOST: zod.string().default('0.0.0.0').describe('Interface the gRPC server binds to.'),
  GRPC_TLS_CERT_FILE: zod
    .string()
    .min(1)
    .optional()
    .describe('PEM certificate chain for gRPC over TLS (set with `GRPC_TLS_KEY_FILE`; neither = plaintext).'),
  GRPC_TLS_KEY_FILE: zod.string().min(1).optional().describe('PEM private key for gRPC over TLS.'),
  GRPC_MAX_MESSAGE_BYTES: env
    .int(4 * 1024 * 1024, 1024, 64 * 1024 * 1024)
    .describe('Largest gRPC message received or sent (RESOURCE_EXHAUSTED above).'),
});

/** TLS files of a grpcEnv config, or undefined for plaintext; one file without the other is a config error. */
export function grpcTls(service: string, c: { GRPC_TLS_CERT_FILE?: string; GRPC_TLS_KEY_FILE?: string }) {
  if (Boolean(c.GRPC_TLS_CERT_FILE) !== Boolean(c.GRPC_TLS_KEY_FILE)) {
    throw new ConfigError(service, [
      'GRPC_TLS_CERT_FILE / GRPC_TLS_KEY_FILE: set both for TLS, or neither for plaintext',
    ]);
  }
  return c.GRPC_TLS_CERT_FILE && c.GRPC_TLS_KEY_FILE
    ? { certFile: c.GRPC_TLS_CERT_FILE, keyFile: c.GRPC_TLS_KEY_FILE }
    : undefined;
}
