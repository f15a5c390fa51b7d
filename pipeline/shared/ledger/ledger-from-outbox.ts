/**
 * The ledger's event rows come from the outbox records themselves (no ledger record of the event-processor's own).
 *
 *   event-processor: one transaction = the outbox records of each event (one per subscription); the FIRST record of
 *     an event carries `hub-ledger-event` = {match, fanOut, ingest}, what its headers do not already say
 *   ledger writer (dlt-processor, background priority): reads the outbox topics read_committed, as it reads the
 *     ledger topic, and turns each record into ledger records:
 *       first record ─▶ the event (id, tenant, type, source, subject, domain, trace id, received at, fan-out, the
 *                       ingest position, and the payload as delivered: its ce_* headers and data) + its PENDING delivery
 *       any other    ─▶ its PENDING delivery (a state that never replaces a later one: ledger-store.pg.ts)
 *
 * Why: the event record carried the delivered CloudEvent (~2.2 KB of a ~2.8 KB record, base64 in JSON) inside the
 * event-processor's transaction, where every byte is encoded, checksummed and written by the broker on the hot path
 * although the same bytes were in the transaction already, as the outbox record (BENCHMARKS.md, 2026-12-02: 0.12 ms
 * of CPU per delivery). The outbox record is as durable (same transaction, read_committed), so an event is on record
 * iff it was fanned out, as before; the ledger writer pays for reading it, at background priority.
 */
import { z } from 'zod';
import { headerString } from '../cloudevents/header-value';
import { HUB_HEADERS } from '../topics';
import { isObject, type LedgerEvent, type LedgerRecord, onlyKeys } from './ledger-record';

/** On an event's first outbox record: what the ledger's event row needs beyond the record's own headers. */
export const LEDGER_EVENT_HEADER = 'hub-ledger-event';

export const ledgerEventHeaderSchema = z.object({
  match: z.object({
    sourceService: z.string(),
    eventType: z.string(),
    resourceType: z.string(),
    operationType: z.string(),
  }),
  fanOut: z.number().int().positive(),
  ingest: z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() }).optional(),
});
export type LedgerEventHeader = z.infer<typeof ledgerEventHeaderSchema>;

export const encodeLedgerEventHeader = (h: LedgerEventHeader): string => JSON.stringify(h);

const HEADER_KEYS: ReadonlySet<string> = new Set(Object.keys(ledgerEventHeaderSchema.shape));
const MATCH_KEYS: ReadonlySet<string> = new Set(Object.keys(ledgerEventHeaderSchema.shape.match.shape));
const INGEST_KEYS: ReadonlySet<string> = new Set(Object.keys(ledgerEventHeaderSchema.shape.ingest.unwrap().shape));

/**
 * The header as the event-processor writes it, checked without zod (one per event; ledger-record.ts says why); a
 * value it does not pass, zod decides (and names what is wrong). It passes only what the schema accepts unchanged.
 */
export function checkedLedgerEventHeader(v: unknown): LedgerEventHeader | undefined {
  if (!isObject(v) || !onlyKeys(v, HEADER_KEYS)) return undefined;
  const { match: m, ingest: i, fanOut } = v;
  if (!isObject(m) || !onlyKeys(m, MATCH_KEYS)) return undefined;
  for (const k of MATCH_KEYS) if (typeof m[k] !== 'string') return undefined;
  if (!Number.isSafeInteger(fanOut) || (fanOut as number) <= 0) return undefined;
  if (
    i !== undefined &&
    !(
      isObject(i) &&
      onlyKeys(i, INGEST_KEYS) &&
      typeof i.topic === 'string' &&
      Number.isSafeInteger(i.partition) &&
      typeof i.offset === 'string'
    )
  )
    return undefined;
  return v as LedgerEventHeader;
}

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;

export interface OutboxMessage {
  headers?: Record<string, HeaderValue>;
  value: Buffer | null;
}

/** The ledger records of one outbox record, or why there are none (a record the hub did not write). */
export function ledgerRecordsOfOutbox(m: OutboxMessage): { records: LedgerRecord[] } | { reason: string } {
  const h = m.headers ?? {};
  const eventId = headerString(h.ce_id);
  const tenantId = headerString(h[HUB_HEADERS.tenantId]);
  const subscriptionId = headerString(h[HUB_HEADERS.subscriptionId]);
  const receivedAt = headerString(h[HUB_HEADERS.receivedAt]);
  if (!eventId || !tenantId || !subscriptionId || !receivedAt)
    return { reason: 'outbox record without ce_id, hub-tenant-id, hub-subscription-id or hub-received-at' };
  const rawEvent = headerString(h[LEDGER_EVENT_HEADER]);
  if (rawEvent === undefined)
    return {
      records: [
        {
          kind: 'delivery',
          at: receivedAt,
          eventId,
          tenantId,
          subscriptionId,
          receivedAt,
          status: 'PENDING',
          reason: null,
          attempts: 0,
          lastStatusCode: null,
          nextAttemptAt: null,
        },
      ],
    };
  let ev: LedgerEventHeader;
  try {
    const json: unknown = JSON.parse(rawEvent);
    const checked = checkedLedgerEventHeader(json);
    if (checked) ev = checked;
    else {
      const parsed = ledgerEventHeaderSchema.safeParse(json);
      if (!parsed.success) return { reason: `${LEDGER_EVENT_HEADER}: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
      ev = parsed.data;
    }
  } catch (err) {
    return { reason: `${LEDGER_EVENT_HEADER} is not JSON: ${(err as Error).message}` };
  }
  const type = headerString(h.ce_type);
  const source = headerString(h.ce_source);
  const domain = headerString(h[HUB_HEADERS.domain]);
  if (!type || !source || !domain) return { reason: 'outbox record without ce_type, ce_source or hub-domain' };
  // The payload as delivered: the CloudEvent's binary-mode headers (not the hub's own) and its data.
  const payloadHeaders: Record<string, string> = {};
  // for-in over the decoder's plain object (no entries array per record).
  for (const k in h) {
    if (k.startsWith('hub-') || !Object.hasOwn(h, k)) continue;
    const str = headerString(h[k]);
    if (str !== undefined) payloadHeaders[k] = str;
  }
  const subject = headerString(h.ce_subject);
  const traceId = headerString(h.ce_traceparent)?.slice(3, 35);
  // One literal of a fixed shape (an absent subject, trace id or ingest position is `undefined`, which JSON leaves
  // out as it did the absent key): spread-built objects are slower to read and encode
  // (outbox-processor/ledger-records.ts says why).
  const event: LedgerEvent = {
    kind: 'event',
    at: receivedAt,
    eventId,
    tenantId,
    type,
    source,
    subject: subject || undefined,
    match: ev.match,
    domain,
    traceId: traceId || undefined,
    receivedAt,
    ingest: ev.ingest,
    subscriptionIds: [subscriptionId],
    fanOut: ev.fanOut,
    payload: { headers: payloadHeaders, body: m.value ?? Buffer.alloc(0) },
  };
  return { records: [event] };
}
