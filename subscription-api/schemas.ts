/**
 * Wire contracts of the subscription-api (zod; they drive validation, serialization and the OpenAPI document).
 * Every request object is `.strict()`: unknown fields are a 400 with their paths.
 * Responses never carry secrets: auth shows which secret is set, the signing secret is returned only by
 * create and rotate-secret.
 */
import { z } from 'zod';
import {
  DEFAULT_RETRY_SCHEDULE_TEXT,
  MAX_SCHEDULE_STEPS,
  parseSchedule,
} from '../pipeline/shared/delivery/retry-schedule';
import { BATCH_WITH_ORDERED } from '../pipeline/shared/subscriptions/snapshot';
import { DOMAINS } from '../pipeline/shared/topics';

const TOKEN = /^[A-Za-z0-9._:/-]+$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const NO_CONTROL = /^[^\r\n\0]*$/;

/** Headers the hub sets itself (or that would break the HTTP exchange); not settable as custom headers. */
export const RESERVED_HEADER =
  /^(host|content-length|content-type|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|authorization|proxy-authorization|cookie|traceparent|tracestate|webhook-.*|ce-.*)$/i;

export const tenantIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(TOKEN, 'letters, digits and . _ : / - only')
  .describe('Tenant id');

const matchPart = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^(\*|[A-Za-z0-9._:/-]+)$/, `an exact ${what} or *`);

export const matchKeyInput = z
  .object({
    sourceService: matchPart('source service'),
    eventType: matchPart('event type'),
    resourceType: matchPart('resource type'),
    operationType: matchPart('operation type'),
  })
  .strict()
  .describe('Four-part match key; each part exact or *');

const headerName = z.string().min(1).max(128).regex(HEADER_NAME, 'an HTTP header name');
const secretString = (max = 4096) => z.string().min(1).max(max).regex(NO_CONTROL, 'no control characters');

export const authInput = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('NONE') }).strict(),
    z
      .object({
        type: z.literal('BASIC'),
        username: z
          .string()
          .min(1)
          .max(256)
          .regex(/^[^:\r\n\0]*$/, 'no colon or control characters'),
        password: secretString(1024),
      })
      .strict(),
    z
      .object({
        type: z.literal('OAUTH2'),
        clientId: z.string().min(1).max(512),
        clientSecret: secretString(),
        tokenUrl: z.string().min(1).max(2048),
        scope: z.string().min(1).max(1024).optional(),
      })
      .strict(),
    z.object({ type: z.literal('JWT'), token: secretString(16384) }).strict(),
    z
      .object({
        type: z.literal('APIKEY'),
        headerName: headerName.refine((h) => !RESERVED_HEADER.test(h), 'this header is set by the hub'),
        key: secretString(),
      })
      .strict(),
  ],
  { error: () => 'auth.type must be one of NONE, BASIC, OAUTH2, JWT, APIKEY' },
);
export type AuthInput = z.infer<typeof authInput>;

/**
 * PATCH auth: same shapes, but the secret may be left out when the type stays the same (the stored secret is
 * kept), so changing a username does not require re-sending the password.
 */
export const authPatchInput = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('NONE') }).strict(),
    z
      .object({
        type: z.literal('BASIC'),
        username: z
          .string()
          .min(1)
          .max(256)
          .regex(/^[^:\r\n\0]*$/, 'no colon or control characters'),
        password: secretString(1024).optional(),
      })
      .strict(),
    z
      .object({
        type: z.literal('OAUTH2'),
        clientId: z.string().min(1).max(512),
        clientSecret: secretString().optional(),
        tokenUrl: z.string().min(1).max(2048),
        scope: z.string().min(1).max(1024).optional(),
      })
      .strict(),
    z.object({ type: z.literal('JWT'), token: secretString(16384).optional() }).strict(),
    z
      .object({
        type: z.literal('APIKEY'),
        headerName: headerName.refine((h) => !RESERVED_HEADER.test(h), 'this header is set by the hub'),
        key: secretString().optional(),
      })
      .strict(),
  ],
  { error: () => 'auth.type must be one of NONE, BASIC, OAUTH2, JWT, APIKEY' },
);
export type AuthPatchInput = z.infer<typeof authPatchInput>;

export const customHeadersInput = z
  .record(
    headerName.refine((h) => !RESERVED_HEADER.test(h), 'this header is set by the hub'),
    z.string().max(1024).regex(NO_CONTROL, 'no control characters'),
  )
  .refine((h) => Object.keys(h).length <= 20, 'at most 20 custom headers')
  .describe('Static headers added to every delivery');

const RETRY_SCHEDULE_MEANING =
  "Delays between the scheduled retries of a failed delivery, after the outbox-processor's short in-process " +
  'attempts; each step a duration such as 5s, 5m, 2h, 1d (1s to 7d). The delivery is FAILED, and the subscription ' +
  "flagged in `health`, when the last step's retry fails. Default: the hub's DELIVERY_RETRY_SCHEDULE " +
  `(${DEFAULT_RETRY_SCHEDULE_TEXT} unless configured, about 28 h).`;

/**
 * A retry schedule as duration strings. Checked with the delivery side's own parser (parseSchedule), so the API
 * accepts exactly what the dlt-processor will run; a bad step is reported at `retrySchedule.<index>`.
 */
export const retryScheduleInput = z
  .array(z.string().min(1).max(32), { error: () => 'an array of durations such as ["5s", "5m", "2h"]' })
  .min(1, 'the schedule has no steps')
  .max(MAX_SCHEDULE_STEPS, `at most ${MAX_SCHEDULE_STEPS} steps`)
  .superRefine((steps, ctx) => {
    // an empty or too long schedule is reported by min/max above
    if (steps.length === 0 || steps.length > MAX_SCHEDULE_STEPS || parseSchedule(steps).ok) return;
    // parseSchedule stops at the first bad step: the shortest failing prefix ends with it.
    for (let i = 0; i < steps.length; i++) {
      const res = parseSchedule(steps.slice(0, i + 1));
      if (!res.ok) {
        ctx.addIssue({ code: 'custom', path: [i], message: res.reason });
        return;
      }
    }
  })
  .describe(RETRY_SCHEDULE_MEANING);

export const BATCH_MEANING =
  'Batched delivery: up to `maxEvents` events (1–1000) in one signed POST of `application/cloudevents-batch+json` ' +
  '(a JSON array of structured CloudEvents; `contentMode` does not apply), sent when full or `maxWaitMs` (0–10000) ' +
  'after its first event. Each event keeps its own retries, dead letter and delivery-log rows; scheduled retries ' +
  'and replays send events one per batch. Not with `ordered`.';

export const batchInput = z
  .object({
    maxEvents: z.number().int().min(1).max(1000),
    maxWaitMs: z.number().int().min(0).max(10_000),
  })
  .strict()
  .describe(BATCH_MEANING);

export const contentModeSchema = z.enum(['BINARY', 'STRUCTURED']);
export const statusSchema = z.enum(['ACTIVE', 'PAUSED']);

export const createSubscriptionBody = z
  .object({
    tenantId: tenantIdSchema.optional().describe('Required for operator keys; tenant keys default to their tenant'),
    description: z.string().max(1000).optional(),
    match: matchKeyInput,
    endpointUrl: z.string().min(1).max(2048),
    contentMode: contentModeSchema.default('BINARY'),
    auth: authInput.default({ type: 'NONE' }),
    customHeaders: customHeadersInput.default({}),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    retrySchedule: retryScheduleInput.optional(),
    ordered: z.boolean().default(false),
    batch: batchInput.optional(),
    status: statusSchema.default('ACTIVE'),
  })
  .strict()
  .refine((b) => !(b.ordered && b.batch), {
    path: ['batch'],
    message: BATCH_WITH_ORDERED,
  });
export type CreateSubscriptionInput = z.infer<typeof createSubscriptionBody>;

export const patchSubscriptionBody = z
  .object({
    description: z.string().max(1000).nullable().optional(),
    match: matchKeyInput.partial().strict().optional(),
    endpointUrl: z.string().min(1).max(2048).optional(),
    contentMode: contentModeSchema.optional(),
    auth: authPatchInput.optional(),
    customHeaders: customHeadersInput.optional(),
    maxAttempts: z.number().int().min(1).max(20).nullable().optional(),
    retrySchedule: retryScheduleInput
      .nullable()
      .optional()
      .describe(`${RETRY_SCHEDULE_MEANING} null = back to the hub's default.`),
    ordered: z.boolean().optional(),
    batch: batchInput.nullable().optional().describe(`${BATCH_MEANING} null = one event per request again.`),
    status: statusSchema.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the patch is empty')
  .refine((b) => !(b.ordered && b.batch), {
    path: ['batch'],
    message: BATCH_WITH_ORDERED,
  });
export type PatchSubscriptionInput = z.infer<typeof patchSubscriptionBody>;

export const listSubscriptionsQuery = z
  .object({
    tenantId: tenantIdSchema.optional(),
    sourceService: z.string().min(1).max(128).optional(),
    eventType: z.string().min(1).max(128).optional(),
    resourceType: z.string().min(1).max(128).optional(),
    operationType: z.string().min(1).max(128).optional(),
    status: statusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();
export type ListSubscriptionsQuery = z.infer<typeof listSubscriptionsQuery>;

export const idParams = z.object({ id: z.string().min(1).max(64) }).strict();

export const authView = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }),
  z.object({ type: z.literal('BASIC'), username: z.string(), passwordSet: z.literal(true) }),
  z.object({
    type: z.literal('OAUTH2'),
    clientId: z.string(),
    tokenUrl: z.string(),
    scope: z.string().optional(),
    clientSecretSet: z.literal(true),
  }),
  z.object({ type: z.literal('JWT'), tokenSet: z.literal(true) }),
  z.object({ type: z.literal('APIKEY'), headerName: z.string(), keySet: z.literal(true) }),
]);
export type AuthView = z.infer<typeof authView>;

export const subscriptionView = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    description: z.string().nullable(),
    status: statusSchema,
    match: z.object({
      sourceService: z.string(),
      eventType: z.string(),
      resourceType: z.string(),
      operationType: z.string(),
    }),
    endpointUrl: z.string(),
    contentMode: contentModeSchema,
    auth: authView,
    customHeaders: z.record(z.string(), z.string()),
    maxAttempts: z.number().int().nullable(),
    retrySchedule: z
      .array(z.string())
      .nullable()
      .describe(`${RETRY_SCHEDULE_MEANING} null = the hub's default applies.`),
    ordered: z.boolean(),
    batch: z
      .object({ maxEvents: z.number().int(), maxWaitMs: z.number().int() })
      .nullable()
      .describe(`${BATCH_MEANING} null = one event per request.`),
    held: z
      .object({
        count: z.number().int().describe('Deliveries held while the subscription is paused; sent on resume'),
        oldestAgeSeconds: z.number().int().nullable().describe('Age of the oldest held delivery; null when none'),
      })
      .describe('Read-only. Deliveries held for this subscription while it is paused.'),
    health: z
      .object({
        failing: z
          .boolean()
          .describe(
            'True once a delivery failed its whole retry schedule; cleared when a scheduled retry next succeeds',
          ),
        exhaustedDeliveries: z.number().int().describe('Deliveries that failed their whole retry schedule, ever'),
        lastExhaustedAt: z.string().nullable().describe('When the last such delivery was given up (FAILED)'),
      })
      .describe("Read-only. The endpoint's health as the retry schedule saw it."),
    signing: z.object({
      /** When set, the previous secret still signs deliveries until then. */
      previousSecretExpiresAt: z.string().nullable(),
    }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Subscription' });
export type SubscriptionView = z.infer<typeof subscriptionView>;

export const createdSubscriptionView = subscriptionView.extend({
  signingSecret: z.string().describe('Standard Webhooks signing secret (whsec_...). Shown only in this response.'),
});

export const rotatedSecretView = z.object({
  id: z.string(),
  signingSecret: z.string().describe('The new signing secret. Shown only in this response.'),
  previousSecretExpiresAt: z.string(),
  version: z.number().int(),
});

export const subscriptionPage = z.object({ items: z.array(subscriptionView), nextCursor: z.string().nullable() });

// ----- event types

const eventTypeName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:/-]+$/, 'letters, digits and . _ : / - only');

export const createEventTypeBody = z
  .object({
    name: eventTypeName,
    description: z.string().max(2000).optional(),
    domain: z.enum(DOMAINS),
    schemaRef: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe('Reference to the event schema (URL or registry subject)'),
    deprecated: z.boolean().default(false),
  })
  .strict();
export type CreateEventTypeInput = z.infer<typeof createEventTypeBody>;

export const patchEventTypeBody = z
  .object({
    description: z.string().max(2000).nullable().optional(),
    domain: z.enum(DOMAINS).optional(),
    schemaRef: z.string().min(1).max(2048).nullable().optional(),
    deprecated: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the patch is empty');
export type PatchEventTypeInput = z.infer<typeof patchEventTypeBody>;

export const eventTypeView = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    domain: z.enum(DOMAINS),
    schemaRef: z.string().nullable(),
    deprecated: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'EventType' });
export type EventTypeView = z.infer<typeof eventTypeView>;

export const listEventTypesQuery = z
  .object({
    domain: z.enum(DOMAINS).optional(),
    deprecated: z.enum(['true', 'false']).optional(),
  })
  .strict();
