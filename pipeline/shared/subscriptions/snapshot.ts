/**
 * The subscription snapshot: the value of a record on the compacted changelog topic
 * `integration-hub.subscriptions.v1` (key = subscription id, null value = deleted).
 *
 * Written by subscription-api's changelog relay, materialised by every processor's SubscriptionDirectory.
 * Secrets stay encrypted (see crypto/secret-box.ts) until the moment of use.
 */
import { z } from 'zod';

export const AUTH_TYPES = ['NONE', 'BASIC', 'OAUTH2', 'JWT', 'APIKEY'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];
export const CONTENT_MODES = ['BINARY', 'STRUCTURED'] as const;
export type ContentMode = (typeof CONTENT_MODES)[number];
export const SUBSCRIPTION_STATUSES = ['ACTIVE', 'PAUSED'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** Non-secret auth settings, by type. Secret parts live in `auth.secret` (encrypted). */
export const authSnapshotSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }),
  /** secret = encrypted password */
  z.object({ type: z.literal('BASIC'), username: z.string(), secret: z.string() }),
  /** secret = encrypted client_secret */
  z.object({
    type: z.literal('OAUTH2'),
    clientId: z.string(),
    tokenUrl: z.string(),
    scope: z.string().optional(),
    /** How the client authenticates at the token endpoint (RFC 6749 2.3.1): HTTP Basic (default) or form body. */
    clientAuth: z.enum(['basic', 'body']).optional(),
    secret: z.string(),
  }),
  /** secret = encrypted bearer token */
  z.object({ type: z.literal('JWT'), secret: z.string() }),
  /** secret = encrypted API key, sent in `headerName` */
  z.object({ type: z.literal('APIKEY'), headerName: z.string(), secret: z.string() }),
]);
export type AuthSnapshot = z.infer<typeof authSnapshotSchema>;

export const matchKeySchema = z.object({
  sourceService: z.string(),
  eventType: z.string(),
  resourceType: z.string(),
  operationType: z.string(),
});
/** Four-part match key; each part is an exact value or `*`. */
export type MatchKey = z.infer<typeof matchKeySchema>;
export const WILDCARD = '*';

export const subscriptionSnapshotSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  version: z.number().int(),
  status: z.enum(SUBSCRIPTION_STATUSES),
  match: matchKeySchema,
  endpointUrl: z.string(),
  contentMode: z.enum(CONTENT_MODES),
  auth: authSnapshotSchema,
  /** Encrypted signing secrets. `previous` is valid until `previousExpiresAt` (rotation overlap). */
  signing: z.object({
    current: z.string(),
    previous: z.string().optional(),
    previousExpiresAt: z.string().optional(),
  }),
  customHeaders: z.record(z.string(), z.string()),
  maxAttempts: z.number().int().positive().optional(),
  /** Milliseconds between scheduled attempts (retry-schedule.ts); absent = the hub's DELIVERY_RETRY_SCHEDULE. */
  retrySchedule: z.array(z.number().int().positive()).max(50).optional(),
  ordered: z.boolean(),
  /**
   * Batched delivery (opt-in, batch.ts): up to `maxEvents` events in one signed POST of
   * `application/cloudevents-batch+json`, sent when full or `maxWaitMs` after its first event. Absent = one event
   * per request.
   */
  batch: z
    .object({
      maxEvents: z.number().int().min(1).max(1000),
      maxWaitMs: z.number().int().min(0).max(10_000),
    })
    .optional(),
  updatedAt: z.string(),
});
export type SubscriptionSnapshot = z.infer<typeof subscriptionSnapshotSchema>;

/** Why a subscription cannot be both batched and ordered (an ordered lane delivers one record at a time). */
export const BATCH_WITH_ORDERED =
  'batched delivery cannot be combined with ordered delivery: drop `batch` (or set it to null) or set `ordered` to false';

/** How a subscription's deliveries are batched, if they are: never for an ordered one (the API refuses the pair). */
export const batchOf = (sub: Pick<SubscriptionSnapshot, 'batch' | 'ordered'>) => (sub.ordered ? undefined : sub.batch);

/** Parses a changelog value; null/empty value = tombstone. Throws a ZodError on a malformed snapshot. */
export function decodeSnapshot(value: Buffer | null): SubscriptionSnapshot | null {
  if (value === null || value.length === 0) return null;
  return subscriptionSnapshotSchema.parse(JSON.parse(value.toString('utf8')));
}

export function encodeSnapshot(snapshot: SubscriptionSnapshot): Buffer {
  return Buffer.from(JSON.stringify(snapshot));
}
