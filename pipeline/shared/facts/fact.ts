/**
 * The hub's own facts (issue 18): what it did, as CloudEvents 1.0 JSON (structured mode) on three public topics,
 * keyed by tenant, for the Control Plane, Governance, Security & Compliance and Observability (pure; the adapters
 * that produce them are `subscription-api/changelog-relay.ts`, `dlt-processor/fact-producer.kafka.ts` and, for
 * inbound acceptance, `event-processor/ingest-publisher.kafka.ts`).
 *
 * | fact (seed 000)   | CloudEvent `type`                                  | topic                        | cause               |
 * |-------------------|----------------------------------------------------|------------------------------|---------------------|
 * | WebhookSubscribed | io.integration-hub.webhook.subscribed.v1           | `<prefix>.facts.webhooks.v1` | subscription created|
 * |                   | io.integration-hub.webhook.paused.v1               |                              | … paused            |
 * |                   | io.integration-hub.webhook.resumed.v1              |                              | … resumed           |
 * |                   | io.integration-hub.webhook.unsubscribed.v1         |                              | … deleted           |
 * | WebhookDelivered  | io.integration-hub.webhook.delivered.v1            | `<prefix>.facts.webhooks.v1` | ledger: DELIVERED   |
 * |                   | (same type, `payload.direction: inbound`)          |                              | inbound webhook accepted |
 * | IntegrationFailed | io.integration-hub.integration.failed.v1           | `<prefix>.facts.failures.v1` | ledger: FAILED      |
 * | CredentialRotated | io.integration-hub.credential.rotated.v1           | `<prefix>.facts.credentials.v1` | secret rotated, auth changed, API key created/revoked, inbound secret rotated |
 *
 * One CloudEvent type per action (not one type with an action field) so a consumer filters on `ce type` /
 * `cs-event-type` alone; `data.fact` names the seed's fact family. The seed 000 envelope is `data` (eventId,
 * eventType, tenantId, traceId, correlationId, causationId, occurredAt, payload); `traceparent`, `correlationid`,
 * `causationid` and `tenantid` are extensions too. Kafka headers mirror `cs-event-type`, `cs-tenant-id`,
 * `cs-trace-id`, `cs-correlation-id`, `cs-schema-version`. JSON Schemas: `schemas/facts/`.
 *
 * Ids are derived, never random: a registry fact's id from its ChangeAudit row id, a delivery fact's from (event id,
 * subscription id, status), an inbound acceptance's from (inbound source id, event id). A fact published again after a
 * crash carries the same id: consumers dedupe on it.
 */
import { hash } from 'node:crypto';
import type { ChangeAuditRow } from '../change-audit/change-audit';
import type { LedgerDelivery, LedgerRecord } from '../ledger/ledger-record';
import type { TopicNames } from '../topics';

/** The facts topics (`topicNames(prefix).facts`). */
export type FactTopics = TopicNames['facts'];

export const FACT_TYPES = {
  subscribed: 'io.integration-hub.webhook.subscribed.v1',
  paused: 'io.integration-hub.webhook.paused.v1',
  resumed: 'io.integration-hub.webhook.resumed.v1',
  unsubscribed: 'io.integration-hub.webhook.unsubscribed.v1',
  delivered: 'io.integration-hub.webhook.delivered.v1',
  failed: 'io.integration-hub.integration.failed.v1',
  credentialRotated: 'io.integration-hub.credential.rotated.v1',
} as const;
export type FactType = (typeof FACT_TYPES)[keyof typeof FACT_TYPES];

export type FactName = 'WebhookSubscribed' | 'WebhookDelivered' | 'IntegrationFailed' | 'CredentialRotated';

/** The JSON Schema of each fact family, under schemas/facts/ (also the CloudEvent `dataschema`). */
export const FACT_SCHEMAS: Record<FactName, string> = {
  WebhookSubscribed: 'schemas/facts/webhook-subscribed.v1.schema.json',
  WebhookDelivered: 'schemas/facts/webhook-delivered.v1.schema.json',
  IntegrationFailed: 'schemas/facts/integration-failed.v1.schema.json',
  CredentialRotated: 'schemas/facts/credential-rotated.v1.schema.json',
};

export const FACT_SCHEMA_VERSION = '1';

/** The Kafka headers that mirror the envelope, so a consumer filters without parsing the value. */
export const FACT_HEADERS = {
  eventType: 'cs-event-type',
  tenantId: 'cs-tenant-id',
  traceId: 'cs-trace-id',
  correlationId: 'cs-correlation-id',
  schemaVersion: 'cs-schema-version',
} as const;

/** Kafka key of a fact about no tenant (operator API keys). */
export const GLOBAL_FACT_KEY = '_hub';

export interface FactEnvelope {
  fact: FactName;
  eventId: string;
  eventType: FactType;
  tenantId: string | null;
  traceId: string;
  correlationId: string;
  causationId: string;
  occurredAt: string;
  payload: Record<string, unknown>;
}

export interface FactCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: FactType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  traceparent: string;
  correlationid: string;
  causationid: string;
  tenantid?: string;
  data: FactEnvelope;
}

/** A fact ready to produce: topic, key (tenant), value (the CloudEvent JSON) and headers. */
export interface FactRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  event: FactCloudEvent;
}

// crypto.hash: one call, no Hash object (2-3 times faster than createHash for these short seeds; the same digest).
const hex = (seed: string, length: number) => hash('sha256', seed, 'hex').slice(0, length);

/** A UUID (version 8, RFC 9562 "custom") derived from `seed`: the same cause always gives the same fact id. */
export function factId(seed: string): string {
  const h = hash('sha256', `fact:${seed}`, 'buffer');
  h[6] = 0x80 | (h[6]! & 0x0f);
  h[8] = 0x80 | (h[8]! & 0x3f);
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The trace id of a cause with no trace of its own, derived as the event-processor derives it (`trace:<id>`). */
export const derivedTraceId = (causeId: string): string => hex(`trace:${causeId}`, 32);

const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * Every object here is one literal of a fixed shape (no spreads, no keys added conditionally): V8 keeps spread-built
 * objects in dictionary mode, which JSON.stringify walks several times slower, and the ledger writer builds one fact
 * per delivery (BENCHMARKS.md, 2026-12-02, 12:30 section). A fact about no tenant gets `tenantid: undefined`, which
 * JSON leaves out as it did the absent key.
 */
function buildFact(
  topic: string,
  source: string,
  subject: string,
  e: Omit<FactEnvelope, 'traceId'> & { traceId?: string | null },
): FactRecord {
  const traceId = e.traceId && TRACE_ID.test(e.traceId) ? e.traceId : derivedTraceId(e.causationId);
  const data: FactEnvelope = {
    fact: e.fact,
    eventId: e.eventId,
    eventType: e.eventType,
    tenantId: e.tenantId,
    traceId,
    correlationId: e.correlationId,
    causationId: e.causationId,
    occurredAt: e.occurredAt,
    payload: e.payload,
  };
  const event: FactCloudEvent = {
    specversion: '1.0',
    id: e.eventId,
    source,
    type: e.eventType,
    subject,
    time: e.occurredAt,
    datacontenttype: 'application/json',
    dataschema: DATASCHEMA[e.fact],
    // The fact's own span, a child of the cause's trace.
    traceparent: `00-${traceId}-${hex(`span:${e.eventId}`, 16)}-01`,
    correlationid: e.correlationId,
    causationid: e.causationId,
    tenantid: e.tenantId ?? undefined,
    data,
  };
  const headers: Record<string, string> =
    e.tenantId !== null
      ? {
          'content-type': FACT_CONTENT_TYPE,
          [FACT_HEADERS.eventType]: e.eventType,
          [FACT_HEADERS.tenantId]: e.tenantId,
          [FACT_HEADERS.traceId]: traceId,
          [FACT_HEADERS.correlationId]: e.correlationId,
          [FACT_HEADERS.schemaVersion]: FACT_SCHEMA_VERSION,
        }
      : {
          'content-type': FACT_CONTENT_TYPE,
          [FACT_HEADERS.eventType]: e.eventType,
          [FACT_HEADERS.traceId]: traceId,
          [FACT_HEADERS.correlationId]: e.correlationId,
          [FACT_HEADERS.schemaVersion]: FACT_SCHEMA_VERSION,
        };
  return { topic, key: e.tenantId ?? GLOBAL_FACT_KEY, value: Buffer.from(JSON.stringify(event)), headers, event };
}

const FACT_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
const DATASCHEMA = Object.fromEntries(
  Object.entries(FACT_SCHEMAS).map(([fact, path]) => [fact, `https://integration-hub.io/${path}`]),
) as Record<FactName, string>;

// ── registry side: one ChangeAudit row -> at most one fact ─────────────────────────────────────────────────────

const SUBSCRIPTION_ACTIONS: Partial<Record<ChangeAuditRow['action'], { type: FactType; action: string }>> = {
  'subscription.created': { type: FACT_TYPES.subscribed, action: 'created' },
  'subscription.paused': { type: FACT_TYPES.paused, action: 'paused' },
  'subscription.resumed': { type: FACT_TYPES.resumed, action: 'resumed' },
  'subscription.deleted': { type: FACT_TYPES.unsubscribed, action: 'deleted' },
};

type Credential = 'signing_secret' | 'auth_credentials' | 'api_key' | 'inbound_secret';

function credentialOf(row: ChangeAuditRow): { credential: Credential; change: string } | undefined {
  switch (row.action) {
    case 'subscription.secret_rotated':
      return { credential: 'signing_secret', change: 'rotated' };
    case 'inbound_source.secret_rotated':
      return { credential: 'inbound_secret', change: 'rotated' };
    case 'api_key.created':
      return { credential: 'api_key', change: 'created' };
    case 'api_key.revoked':
      return { credential: 'api_key', change: 'revoked' };
    case 'subscription.updated':
      // New auth credentials (or another auth scheme) on an update: the names say so, the values never travel.
      return row.changedFields.some((f) => f === 'auth' || f.startsWith('auth.'))
        ? { credential: 'auth_credentials', change: 'rotated' }
        : undefined;
    default:
      return undefined;
  }
}

const REGISTRY_SOURCE = '//integration-hub/subscription-api';

/** The fact a committed registry change stands for, or undefined (an event-type change, a plain update). */
export function registryFactOf(row: ChangeAuditRow, topics: FactTopics): FactRecord | undefined {
  const cause = row.actor.requestId ?? `change-audit:${row.id}`;
  const common = {
    eventId: factId(`change-audit:${row.id}`),
    tenantId: row.tenantId,
    correlationId: cause,
    causationId: cause,
    occurredAt: row.at.toISOString(),
  };
  const actor = { keyId: row.actor.keyId, name: row.actor.name };
  const sub = SUBSCRIPTION_ACTIONS[row.action];
  if (sub)
    return buildFact(topics.webhooks, REGISTRY_SOURCE, row.resourceId, {
      ...common,
      fact: 'WebhookSubscribed',
      eventType: sub.type,
      payload: {
        action: sub.action,
        subscriptionId: row.resourceId,
        version: row.version,
        changedFields: row.changedFields,
        actor,
      },
    });
  const cred = credentialOf(row);
  if (cred)
    return buildFact(topics.credentials, REGISTRY_SOURCE, row.resourceId, {
      ...common,
      fact: 'CredentialRotated',
      eventType: FACT_TYPES.credentialRotated,
      payload: {
        credential: cred.credential,
        change: cred.change,
        resourceType: row.resourceType,
        resourceId: row.resourceId,
        version: row.version,
        changedFields: row.changedFields,
        actor,
      },
    });
  return undefined;
}

// ── delivery side: one ledger delivery record -> at most one fact ──────────────────────────────────────────────

/** `FACTS_DELIVERED`: every WebhookDelivered fact, none, or about one in N (by a hash of the fact id). */
export type DeliveredFactsMode = { kind: 'all' } | { kind: 'none' } | { kind: 'sample'; oneIn: number };

export function parseDeliveredFactsMode(value: string): DeliveredFactsMode | undefined {
  if (value === 'all' || value === 'none') return { kind: value };
  const m = /^sample:([1-9][0-9]{0,5})$/.exec(value);
  return m ? { kind: 'sample', oneIn: Number(m[1]) } : undefined;
}

/** Deterministic: a re-produced fact is kept or dropped as it was the first time. */
export function keepDelivered(mode: DeliveredFactsMode, id: string): boolean {
  if (mode.kind !== 'sample') return mode.kind === 'all';
  return hash('sha256', id, 'buffer').readUInt32BE(0) % mode.oneIn === 0;
}

const DELIVERY_SOURCE = '//integration-hub/delivery';
const REASON_CODE = /^([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)+): /;

/** WebhookDelivered for DELIVERED (subject to `mode`), IntegrationFailed for FAILED; nothing for other states. */
export function deliveryFactOf(
  d: LedgerDelivery,
  topics: FactTopics,
  mode: DeliveredFactsMode = { kind: 'all' },
): FactRecord | undefined {
  if (d.status !== 'DELIVERED' && d.status !== 'FAILED') return undefined;
  const delivered = d.status === 'DELIVERED';
  const eventId = factId(`delivery:${d.eventId}:${d.subscriptionId}:${d.status}`);
  if (delivered && !keepDelivered(mode, eventId)) return undefined;
  const reason = delivered ? null : (d.reason ?? 'failed permanently');
  // The delivered CloudEvent's id is stable from ingest to every retry: it correlates the whole chain.
  return buildFact(delivered ? topics.webhooks : topics.failures, DELIVERY_SOURCE, d.subscriptionId, {
    fact: delivered ? 'WebhookDelivered' : 'IntegrationFailed',
    eventId,
    eventType: delivered ? FACT_TYPES.delivered : FACT_TYPES.failed,
    tenantId: d.tenantId,
    traceId: d.traceId ?? derivedTraceId(d.eventId),
    correlationId: d.eventId,
    causationId: d.eventId,
    occurredAt: d.at,
    // A delivered fact has no reason and no code: `undefined`, which JSON leaves out (one shape for both).
    payload: {
      webhookEventId: d.eventId,
      subscriptionId: d.subscriptionId,
      receivedAt: d.receivedAt,
      attempts: d.attempts,
      lastStatusCode: d.lastStatusCode,
      reason: reason ?? undefined,
      code: reason === null ? undefined : (REASON_CODE.exec(reason)?.[1] ?? null),
    },
  });
}

/**
 * The facts of a batch of ledger records, in the batch's order: what `deliveryFactOf` makes of each delivery record
 * (WebhookDelivered for DELIVERED as `mode` says, IntegrationFailed for every FAILED), nothing for PENDING, RETRYING,
 * HELD, SKIPPED, events or attempts. The ledger writer's fact sink (`dlt-processor/fact-producer.kafka.ts`) produces
 * exactly these; the same batch read again gives the same facts (same ids, same sampling).
 */
export function deliveryFactsOf(
  records: readonly LedgerRecord[],
  topics: FactTopics,
  mode: DeliveredFactsMode,
): FactRecord[] {
  const facts: FactRecord[] = [];
  for (const r of records) {
    const fact = r.kind === 'delivery' ? deliveryFactOf(r, topics, mode) : undefined;
    if (fact) facts.push(fact);
  }
  return facts;
}

// ── inbound side: one accepted vendor webhook -> at most one fact ──────────────────────────────────────────────

/** An inbound webhook the event-processor accepted (`event-processor/http-inbound.ts`): the event it became. */
export interface InboundAcceptance {
  /** The CloudEvent id produced to the ingest topic (deterministic from the vendor's delivery id when it has one). */
  eventId: string;
  tenantId: string;
  inboundSourceId: string;
  /** The vendor's delivery id (the dedupe key), when the source maps one. */
  deliveryId: string | null;
  /** The event's trace (its traceparent's trace id). */
  traceId: string | null;
  /** When the hub received it (ISO 8601). */
  receivedAt: string;
}

const INBOUND_SOURCE = '//integration-hub/inbound';

/**
 * WebhookDelivered for an accepted inbound webhook, subject to `mode` (FACTS_DELIVERED, as for deliveries): the same
 * CloudEvent type as an outbound delivery, told apart by `payload.direction: "inbound"` (outbound facts carry no
 * `direction`, so their shape is unchanged) and by `source` `//integration-hub/inbound`; subject = the inbound source.
 * Correlation and causation id = the accepted event's id, which every delivery of it (and their facts) carries too.
 */
export function inboundFactOf(
  a: InboundAcceptance,
  topics: FactTopics,
  mode: DeliveredFactsMode = { kind: 'all' },
): FactRecord | undefined {
  const eventId = factId(`inbound:${a.inboundSourceId}:${a.eventId}`);
  if (!keepDelivered(mode, eventId)) return undefined;
  return buildFact(topics.webhooks, INBOUND_SOURCE, a.inboundSourceId, {
    eventId,
    fact: 'WebhookDelivered',
    eventType: FACT_TYPES.delivered,
    tenantId: a.tenantId,
    traceId: a.traceId ?? derivedTraceId(a.eventId),
    correlationId: a.eventId,
    causationId: a.eventId,
    occurredAt: a.receivedAt,
    payload: {
      direction: 'inbound',
      webhookEventId: a.eventId,
      inboundSourceId: a.inboundSourceId,
      deliveryId: a.deliveryId,
      receivedAt: a.receivedAt,
    },
  });
}
