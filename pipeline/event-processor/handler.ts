/**
 * The event-processor use case: one decoded ingest record -> the records to produce and the audit trail.
 *
 *   decoded? ──no──▶ quarantine record (original key/value/headers + reason, code, source position)
 *      │                + EVENT_ERROR                                         outcome: deadLetter
 *      yes
 *      ▼
 *   EVENT_RECEIVED ─▶ traceparent carried (or derived from the id) ─▶ directory.match (ACTIVE, same tenant,
 *   exact or * per key part) ─▶ domain = routeDomain(resourceType, eventType)
 *      ─▶ one binary-mode outbox record per match: topic outbox(domain), key tenant, same id,
 *         headers hub-subscription-id / hub-tenant-id / hub-domain
 *      ─▶ EVENT_PROCESSED(matches)                                           outcome: delivered | skipped
 *
 * Pure and synchronous: no I/O, no clock except the injected `now`. The Kafka adapter produces `records`
 * atomically with the input offsets (one transaction) and hands `audit` to the audit sink after the commit.
 */
import type { AuditEntry } from '../shared/audit/audit';
import { EXT, type HubCloudEvent, type KafkaHeaders, toKafkaBinary } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import { permanent } from '../shared/errors';
import { encodeLedgerEventHeader, LEDGER_EVENT_HEADER } from '../shared/ledger/ledger-from-outbox';
import { deadLetter, delivered, type Outcome, skipped } from '../shared/outcome';
import { defaultRoutingTable, type RoutingTable, routeDomain } from '../shared/routing';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import { type Domain, HUB_HEADERS, type TopicNames } from '../shared/topics';
import { type DecodeResult, type IngestRecord, TENANT_ID } from './decode-input';
import { deriveTraceparent } from './traceparent';

/** A record to produce (kafkajs message shape plus its topic). */
export interface ProducedRecord {
  topic: string;
  key: string | Buffer | null;
  value: Buffer | null;
  headers: KafkaHeaders;
}

export interface SourcePosition {
  topic: string;
  partition: number;
  offset: string;
}

export interface HandlerInput {
  record: IngestRecord;
  decoded: DecodeResult;
  source: SourcePosition;
  /** When the record was taken off the topic (ms), for the EVENT_PROCESSED duration. */
  receivedAt?: number;
}

export interface HandlerResult {
  outcome: Outcome;
  /** Outbox records, or the one quarantine record. */
  records: ProducedRecord[];
  audit: AuditEntry[];
  matches: number;
  domain?: Domain;
  /** Set when the input was poison. */
  quarantine?: { code: string; reason: string };
  event?: HubCloudEvent;
}

export interface EventHandlerDeps {
  /** The in-memory subscription registry (SubscriptionDirectory or memoryDirectory). */
  directory: SubscriptionLookup;
  topics: TopicNames;
  routing?: RoutingTable;
  now?: () => number;
  /** Mark the first outbox record of each event for the delivery ledger (`hub-ledger-event`, ledger-from-outbox.ts). */
  ledger?: boolean;
}

export type EventHandler = (input: HandlerInput) => HandlerResult;

/** Quarantine reasons are for people; keep the header bounded. */
const MAX_REASON = 1000;

export function createEventHandler(deps: EventHandlerDeps): EventHandler {
  const routing = deps.routing ?? defaultRoutingTable;
  const now = deps.now ?? Date.now;

  return ({ record, decoded, source, receivedAt }) => {
    if (!decoded.ok) {
      const reason = decoded.reason.slice(0, MAX_REASON);
      const headers: KafkaHeaders = {
        ...(record.headers ?? {}),
        [HUB_HEADERS.quarantineReason]: reason,
        [HUB_HEADERS.quarantineCode]: decoded.code,
        [HUB_HEADERS.sourceTopic]: source.topic,
        [HUB_HEADERS.sourcePartition]: String(source.partition),
        [HUB_HEADERS.sourceOffset]: source.offset,
      };
      return {
        outcome: deadLetter(permanent(decoded.code, reason)),
        records: [{ topic: deps.topics.quarantine, key: record.key ?? null, value: record.value, headers }],
        audit: [
          {
            stage: 'EVENT_ERROR',
            eventId: bestEffortId(record, source),
            tenantId: bestEffortTenant(record),
            errorCode: decoded.code,
            detail: reason,
            topic: deps.topics.quarantine,
          },
        ],
        matches: 0,
        quarantine: { code: decoded.code, reason },
      };
    }

    const { match } = decoded;
    const event = withTraceparent(decoded.event);
    const traceId = event.extensions[EXT.traceparent]!.slice(3, 35);
    const base = { eventId: event.id, tenantId: match.tenantId, traceId };
    // Paused subscriptions too: their deliveries are held and delivered on resume (pause holds, it never drops).
    const subscriptions = deps.directory.match(match, { includePaused: true });
    const domain = routeDomain({ resourceType: match.resourceType, eventType: match.eventType }, routing);
    const topic = deps.topics.outbox(domain);
    const receivedAtIso = new Date(now()).toISOString();
    const records: ProducedRecord[] = subscriptions.map((s) => {
      const { headers, value } = toKafkaBinary(event, {
        [HUB_HEADERS.subscriptionId]: s.id,
        [HUB_HEADERS.tenantId]: match.tenantId,
        [HUB_HEADERS.domain]: domain,
        [HUB_HEADERS.receivedAt]: receivedAtIso,
      });
      return { topic, key: match.tenantId, value, headers };
    });
    const matched = records.length;
    // The ledger's event row is read from the outbox records themselves (shared/ledger/ledger-from-outbox.ts): the
    // first one says what its headers do not. Recorded iff fanned out, with no bytes of its own in the transaction.
    if (deps.ledger && records[0])
      records[0].headers[LEDGER_EVENT_HEADER] = encodeLedgerEventHeader({
        match: {
          sourceService: match.sourceService,
          eventType: match.eventType,
          resourceType: match.resourceType,
          operationType: match.operationType,
        },
        fanOut: matched,
        ingest: { topic: source.topic, partition: source.partition, offset: source.offset },
      });
    const audit: AuditEntry[] = [
      { stage: 'EVENT_RECEIVED', ...base, topic: source.topic },
      {
        stage: 'EVENT_PROCESSED',
        ...base,
        matches: matched,
        topic,
        outcome: matched > 0 ? 'fanned-out' : 'no-match',
        ...(receivedAt !== undefined ? { durationMs: Math.max(0, now() - receivedAt) } : {}),
      },
    ];
    return {
      outcome: matched > 0 ? delivered(`${matched} outbox records`) : skipped('no matching subscription'),
      records,
      audit,
      matches: matched,
      domain,
      event,
    };
  };
}

/** The traceparent is carried when present; otherwise derived from the event id (stable across retries). */
function withTraceparent(event: HubCloudEvent): HubCloudEvent {
  if (event.extensions[EXT.traceparent]) return event;
  const traceId = event.extensions.traceid;
  return { ...event, extensions: { ...event.extensions, [EXT.traceparent]: deriveTraceparent(event.id, traceId) } };
}

function bestEffortId(record: IngestRecord, source: SourcePosition): string {
  const id = headerString(record.headers?.ce_id);
  return id && id.length <= 256 ? id : `${source.topic}/${source.partition}/${source.offset}`;
}

function bestEffortTenant(record: IngestRecord): string {
  const fromHeader = headerString(record.headers?.ce_tenantid);
  if (fromHeader && TENANT_ID.test(fromHeader)) return fromHeader;
  const key = typeof record.key === 'string' ? record.key : record.key?.toString('utf8');
  return key && TENANT_ID.test(key) ? key : 'unknown';
}
