/**
 * The delivery ledger's records: what the processors emit, durably, to `<prefix>.ledger.v1` (key = tenant id), and
 * the ledger writer (dlt-processor) batches into Postgres (LedgerEvent, LedgerDelivery, LedgerAttempt; partitioned
 * by day on the event's `receivedAt`).
 *
 *   event-processor ── no record of its own: the ledger writer reads each event (and its payload) from the event's
 *                      first outbox record, marked `hub-ledger-event` (ledger-from-outbox.ts); an `event` record on
 *                      this topic (from an event-processor before that change) is read as ever
 *   outbox-processor ─ attempt (one per HTTP attempt) + delivery (the delivery's new state), acknowledged by the
 *                      broker before the outbox record's offset is committed
 *   dlt-processor ──── attempt + delivery for scheduled retries and replays (same records)
 *
 * Idempotent under redelivery: an event is keyed by (eventId, receivedAt), an attempt by its `attemptId` (made when
 * the attempt was), a delivery by (eventId, subscriptionId) and only moves to a state whose `at` is not older.
 */
import { z } from 'zod';

export const LEDGER_DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'RETRYING', 'HELD', 'FAILED', 'SKIPPED'] as const;
export type LedgerDeliveryStatus = (typeof LEDGER_DELIVERY_STATUSES)[number];
export const ATTEMPT_SOURCES = ['OUTBOX', 'SCHEDULED', 'REPLAY'] as const;

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO date-time');

export const ledgerEventSchema = z.object({
  kind: z.literal('event'),
  /** When the record was made. */
  at: iso,
  eventId: z.string(),
  tenantId: z.string(),
  type: z.string(),
  source: z.string(),
  subject: z.string().optional(),
  match: z.object({
    sourceService: z.string(),
    eventType: z.string(),
    resourceType: z.string(),
    operationType: z.string(),
  }),
  domain: z.string(),
  traceId: z.string().optional(),
  /** When the hub ingested the event: the partition key of every ledger table. */
  receivedAt: iso,
  /** Where the input lives in Kafka (absent for HTTP ingest). */
  ingest: z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() }).optional(),
  /** The subscriptions it was fanned out to (one PENDING delivery each). */
  subscriptionIds: z.array(z.string()),
  /**
   * How many subscriptions it was fanned out to, when `subscriptionIds` names only some: an event read from its first
   * outbox record (ledger-from-outbox.ts) names that record's subscription; the others come with their own records.
   */
  fanOut: z.number().int().nonnegative().optional(),
  /** The CloudEvent as delivered: binary-mode headers (ce_*) and the data, base64 (for replay). */
  payload: z.object({ headers: z.record(z.string(), z.string()), body: z.string() }),
});

export const ledgerAttemptSchema = z.object({
  kind: z.literal('attempt'),
  at: iso,
  /** Unique per attempt, made when the attempt was: a redelivered record is written once. */
  attemptId: z.string().uuid(),
  eventId: z.string(),
  tenantId: z.string(),
  subscriptionId: z.string(),
  receivedAt: iso,
  source: z.enum(ATTEMPT_SOURCES),
  /** 1-based within its source's run (outbox: in-process attempt; scheduled: the row's scheduled attempt). */
  attempt: z.number().int().nonnegative(),
  durationMs: z.number().int().nonnegative(),
  statusCode: z.number().int().nullable(),
  errorCode: z.string().nullable(),
  /** At most 1 KB, credentials masked (snippet.ts). */
  responseSnippet: z.string().nullable(),
});

/** An attempt carried inside a delivery record (the outbox-processor's: one ledger record per delivery). */
export const inlineAttemptSchema = ledgerAttemptSchema.omit({
  kind: true,
  eventId: true,
  tenantId: true,
  subscriptionId: true,
  receivedAt: true,
});

export const ledgerDeliverySchema = z.object({
  kind: z.literal('delivery'),
  at: iso,
  eventId: z.string(),
  tenantId: z.string(),
  subscriptionId: z.string(),
  receivedAt: iso,
  status: z.enum(LEDGER_DELIVERY_STATUSES),
  reason: z.string().nullable(),
  /** Attempts made by the step that led here (added to the delivery's count). */
  attempts: z.number().int().nonnegative(),
  lastStatusCode: z.number().int().nullable(),
  nextAttemptAt: iso.nullable(),
  /** The delivered event's W3C trace id, when known: the WebhookDelivered / IntegrationFailed fact carries it. */
  traceId: z.string().optional(),
  /** The attempts that led here, when they travel with the outcome (written as attempt rows). */
  tries: z.array(inlineAttemptSchema).optional(),
});

export const ledgerRecordSchema = z.discriminatedUnion('kind', [
  ledgerEventSchema,
  ledgerAttemptSchema,
  ledgerDeliverySchema,
]);
/**
 * An event record. Its payload body is base64 text as it travels on the ledger topic, or the bytes themselves when
 * the writer read the event from its outbox record (ledger-from-outbox.ts): those never travel again, and the store
 * writes the bytes as they are.
 */
export type LedgerEvent = Omit<z.infer<typeof ledgerEventSchema>, 'payload'> & {
  payload: { headers: Record<string, string>; body: string | Buffer };
};
export type LedgerAttempt = z.infer<typeof ledgerAttemptSchema>;
export type LedgerDelivery = z.infer<typeof ledgerDeliverySchema>;
export type LedgerRecord = LedgerEvent | LedgerAttempt | LedgerDelivery;

/** JSON (a payload body held as bytes goes as base64, as the topic's schema says). */
export const encodeLedgerRecord = (r: LedgerRecord): Buffer =>
  Buffer.from(
    JSON.stringify(
      r.kind === 'event' && Buffer.isBuffer(r.payload.body)
        ? { ...r, payload: { ...r.payload, body: r.payload.body.toString('base64') } }
        : r,
    ),
  );

/**
 * Ledger records travel in bundles: one Kafka record holding a JSON array of many ledger records (each encoded by
 * `encodeLedgerRecord`). The cost of the ledger is mostly per Kafka record (encoding, the broker's work, the
 * writer's fetch and decode), not per byte, so a processor sends one bundle per transaction or linger window
 * instead of one record per event or delivery. A value that is a single record (not an array) is read too.
 */
export const LEDGER_BUNDLE_MAX_BYTES = 256 * 1024;

/** How long a processor gathers records into one bundle by default (the outbox-processor's LEDGER_LINGER_MS). */
export const LEDGER_LINGER_MS_DEFAULT = 25;

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** One bundle of encoded records (a JSON array); the encodings are joined, not parsed again. */
export function encodeLedgerBundle(encoded: Buffer[]): Buffer {
  const parts: Buffer[] = [OPEN];
  encoded.forEach((b, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(b);
  });
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

/**
 * What an encoded record costs in a bundle: its bytes and the comma (or bracket) beside it. Bundles are cut with
 * `groupByBytes(encoded, bundleEntryBytes, LEDGER_BUNDLE_MAX_BYTES)` (shared/group-by-bytes.ts); a record larger
 * than the limit forms a bundle of its own.
 */
export const bundleEntryBytes = (encoded: Buffer): number => encoded.length + 1;

/**
 * The ledger records of one Kafka record (a bundle or a single record), and the reason for each entry that is not
 * one (`index` within the bundle; the others are still written).
 */
export function decodeLedgerMessage(value: Buffer | null): {
  records: LedgerRecord[];
  invalid: { index: number; reason: string }[];
} {
  if (!value || value.length === 0) return { records: [], invalid: [{ index: 0, reason: 'empty ledger record' }] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { records: [], invalid: [{ index: 0, reason: `not JSON: ${(err as Error).message}` }] };
  }
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  const records: LedgerRecord[] = [];
  const invalid: { index: number; reason: string }[] = [];
  entries.forEach((entry, index) => {
    const fast = checkedLedgerRecord(entry);
    if (fast) {
      records.push(fast);
      return;
    }
    const r = ledgerRecordSchema.safeParse(entry);
    if (r.success) records.push(r.data);
    else invalid.push({ index, reason: r.error.issues[0]?.message ?? 'invalid' });
  });
  return { records, invalid };
}

// ── the writer's fast path: the records the processors send, checked by hand ────────────────────────────────────
// zod's parse was ~9% of the ledger writer's CPU (BENCHMARKS.md, 2026-12-03, 12:50 section): every delivery record
// with its inline attempt, hundreds of thousands after a saturation run. A delivery or attempt record that passes
// these checks is one the schema accepts unchanged (every key is the schema's, so zod would strip none, and none is
// transformed); anything else (an event record, a record with a key the schema does not name, a wrong value) goes
// to zod, which accepts or refuses it with its reason, as before. ledger-record.test.ts holds the two to that.

const UUID = z.regexes.uuid();
const STATUSES: ReadonlySet<unknown> = new Set(LEDGER_DELIVERY_STATUSES);
const SOURCES: ReadonlySet<unknown> = new Set(ATTEMPT_SOURCES);
const DELIVERY_KEYS: ReadonlySet<string> = new Set(Object.keys(ledgerDeliverySchema.shape));
const ATTEMPT_KEYS: ReadonlySet<string> = new Set(Object.keys(ledgerAttemptSchema.shape));
const INLINE_ATTEMPT_KEYS: ReadonlySet<string> = new Set(Object.keys(inlineAttemptSchema.shape));

/** A JSON object's fields (for the hand checks here and in ledger-from-outbox.ts). */
export type Fields = Record<string, unknown>;
export const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
/** No key beyond `keys` (inherited ones included: for-in sees them too, and they go to zod). */
export function onlyKeys(o: Fields, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false;
  return true;
}
const isIso = (v: unknown): boolean => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isIntOrNull = (v: unknown): boolean => v === null || Number.isSafeInteger(v);
const isTextOrNull = (v: unknown): boolean => v === null || typeof v === 'string';

/** The fields an attempt has inline and as a record of its own. */
const attemptFieldsOk = (a: Fields): boolean =>
  isIso(a.at) &&
  typeof a.attemptId === 'string' &&
  UUID.test(a.attemptId) &&
  SOURCES.has(a.source) &&
  isCount(a.attempt) &&
  isCount(a.durationMs) &&
  isIntOrNull(a.statusCode) &&
  isTextOrNull(a.errorCode) &&
  isTextOrNull(a.responseSnippet);

function deliveryOk(d: Fields): boolean {
  if (!onlyKeys(d, DELIVERY_KEYS)) return false;
  if (
    !(
      isIso(d.at) &&
      typeof d.eventId === 'string' &&
      typeof d.tenantId === 'string' &&
      typeof d.subscriptionId === 'string' &&
      isIso(d.receivedAt) &&
      STATUSES.has(d.status) &&
      isTextOrNull(d.reason) &&
      isCount(d.attempts) &&
      isIntOrNull(d.lastStatusCode) &&
      (d.nextAttemptAt === null || isIso(d.nextAttemptAt)) &&
      (d.traceId === undefined || typeof d.traceId === 'string')
    )
  )
    return false;
  if (d.tries === undefined) return true;
  if (!Array.isArray(d.tries)) return false;
  for (const t of d.tries) if (!isObject(t) || !onlyKeys(t, INLINE_ATTEMPT_KEYS) || !attemptFieldsOk(t)) return false;
  return true;
}

const attemptOk = (a: Fields): boolean =>
  onlyKeys(a, ATTEMPT_KEYS) &&
  typeof a.eventId === 'string' &&
  typeof a.tenantId === 'string' &&
  typeof a.subscriptionId === 'string' &&
  isIso(a.receivedAt) &&
  attemptFieldsOk(a);

/**
 * A delivery or attempt record the schema accepts as it is, checked without zod; undefined for anything else (zod
 * decides those).
 */
export function checkedLedgerRecord(entry: unknown): LedgerDelivery | LedgerAttempt | undefined {
  if (!isObject(entry)) return undefined;
  if (entry.kind === 'delivery') return deliveryOk(entry) ? (entry as LedgerDelivery) : undefined;
  if (entry.kind === 'attempt') return attemptOk(entry) ? (entry as LedgerAttempt) : undefined;
  return undefined;
}
