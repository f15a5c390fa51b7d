/**
 * Port: reading the delivery ledger (the operator API, ledger replay and recover). The Postgres adapter is
 * ledger-query.prisma.ts.
 *
 *   LedgerEvent ──< LedgerDelivery ──< LedgerAttempt      all partitioned by day on the event's "receivedAt"
 *
 * Lists are newest first with keyset cursors: an opaque base64url of the last item's sort key (below).
 */
import type { LedgerDeliveryStatus } from './ledger-record';

export interface LedgerMatch {
  sourceService: string;
  eventType: string;
  resourceType: string;
  operationType: string;
}

export interface LedgerEventRow {
  eventId: string;
  receivedAt: Date;
  tenantId: string;
  type: string;
  source: string;
  subject: string | null;
  match: LedgerMatch;
  domain: string;
  traceId: string | null;
  fanOut: number;
  ingest: { topic: string; partition: number; offset: string } | null;
}

/** An event with its payload as delivered: binary-mode CloudEvent headers (ce_*) and the data. */
export interface LedgerEventFull extends LedgerEventRow {
  payloadHeaders: Record<string, string>;
  payloadBody: Buffer;
}

export interface LedgerDeliveryRow {
  eventId: string;
  subscriptionId: string;
  receivedAt: Date;
  tenantId: string;
  status: LedgerDeliveryStatus;
  reason: string | null;
  attempts: number;
  lastStatusCode: number | null;
  nextAttemptAt: Date | null;
  updatedAt: Date;
}

export interface LedgerAttemptRow {
  attemptId: string;
  eventId: string;
  subscriptionId: string;
  attemptedAt: Date;
  source: 'OUTBOX' | 'SCHEDULED' | 'REPLAY';
  attempt: number;
  durationMs: number;
  statusCode: number | null;
  errorCode: string | null;
  responseSnippet: string | null;
}

export interface EventFilter {
  tenantId?: string;
  type?: string;
  /** On "receivedAt": from inclusive, to exclusive. */
  from?: Date;
  to?: Date;
}

export interface DeliveryFilter {
  tenantId?: string;
  subscriptionId?: string;
  eventId?: string;
  status?: LedgerDeliveryStatus;
  /** On the event's "receivedAt": from inclusive, to exclusive. */
  from?: Date;
  to?: Date;
}

/** The deliveries a recover re-delivers: one subscription's, of events received in [since, until), by status. */
export interface RecoverSelection {
  tenantId: string;
  subscriptionId: string;
  since: Date;
  until: Date;
  statuses: LedgerDeliveryStatus[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Where an event is: its id and the day partition it lives in. */
export interface EventKey {
  eventId: string;
  receivedAt: Date;
  tenantId: string;
}

export interface LedgerQuery {
  listEvents(filter: EventFilter, limit: number, cursor?: string): Promise<Page<LedgerEventRow>>;
  /** The newest event with this id (within the tenant when one is given), with its payload. */
  findEvent(eventId: string, tenantId?: string): Promise<LedgerEventFull | undefined>;
  /** The event's deliveries, by subscription id. */
  deliveriesOf(event: EventKey): Promise<LedgerDeliveryRow[]>;
  /** The event's attempts (of one subscription when given), oldest first. */
  attemptsOf(event: EventKey, subscriptionId?: string): Promise<LedgerAttemptRow[]>;
  listDeliveries(filter: DeliveryFilter, limit: number, cursor?: string): Promise<Page<LedgerDeliveryRow>>;
  /** The newest delivery of this event to this subscription (within the tenant when one is given). */
  findDelivery(eventId: string, subscriptionId: string, tenantId?: string): Promise<LedgerDeliveryRow | undefined>;
  countForRecover(sel: RecoverSelection): Promise<number>;
  /** The next deliveries to recover after `after` (oldest first: events in the order they were received). */
  pageForRecover(
    sel: RecoverSelection,
    after: { receivedAt: Date; eventId: string } | undefined,
    limit: number,
  ): Promise<{ delivery: LedgerDeliveryRow; event: LedgerEventFull | undefined }[]>;
}

// ── cursors ──────────────────────────────────────────────────────────────────────────────────────────────────

/** A list cursor: the last item's sort key (receivedAt, eventId[, subscriptionId]). */
export interface LedgerCursor {
  receivedAt: Date;
  eventId: string;
  subscriptionId?: string;
}

export function encodeLedgerCursor(c: LedgerCursor): string {
  const key = [c.receivedAt.toISOString(), c.eventId, ...(c.subscriptionId === undefined ? [] : [c.subscriptionId])];
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The cursor, or undefined when it is not one this API handed out (`withSubscription`: a delivery cursor). */
export function decodeLedgerCursor(s: string, withSubscription: boolean): LedgerCursor | undefined {
  try {
    const key: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (!Array.isArray(key) || key.length !== (withSubscription ? 3 : 2)) return undefined;
    if (!key.every((k) => typeof k === 'string' && k.length > 0 && k.length <= 256)) return undefined;
    const [at, eventId, subscriptionId] = key as string[];
    const receivedAt = new Date(at!);
    if (Number.isNaN(receivedAt.getTime())) return undefined;
    return { receivedAt, eventId: eventId!, ...(withSubscription ? { subscriptionId } : {}) };
  } catch {
    return undefined;
  }
}
