/**
 * LedgerQuery (ledger-query.ts) on Postgres through Prisma.
 *
 *   LedgerEvent ──< LedgerDelivery ──< LedgerAttempt      all partitioned by day on the event's "receivedAt"
 *
 * Every lookup carries the event's "receivedAt" once it is known, so Postgres prunes to one day's partitions. Lists
 * are newest first with keyset cursors (an opaque base64url of the last item's sort key), bounded below by the
 * cursor's "receivedAt" so a deep page starts at its place in the index instead of skipping rows.
 */
import type { Prisma, PrismaClient } from '../../../prisma/client';
import type {
  DeliveryFilter,
  EventFilter,
  EventKey,
  LedgerAttemptRow,
  LedgerDeliveryRow,
  LedgerEventFull,
  LedgerEventRow,
  LedgerMatch,
  LedgerQuery,
  Page,
  RecoverSelection,
} from './ledger-query';
import { decodeLedgerCursor, encodeLedgerCursor } from './ledger-query';
import type { LedgerDeliveryStatus } from './ledger-record';

type EventRow = Prisma.LedgerEventGetPayload<object>;
type DeliveryRow = Prisma.LedgerDeliveryGetPayload<object>;
type AttemptRow = Prisma.LedgerAttemptGetPayload<object>;

const eventSummary = {
  eventId: true,
  receivedAt: true,
  tenantId: true,
  type: true,
  source: true,
  subject: true,
  match: true,
  domain: true,
  traceId: true,
  fanOut: true,
  ingestTopic: true,
  ingestPartition: true,
  ingestOffset: true,
} as const;

function toEvent(r: Omit<EventRow, 'payloadHeaders' | 'payloadBody'>): LedgerEventRow {
  return {
    eventId: r.eventId,
    receivedAt: r.receivedAt,
    tenantId: r.tenantId,
    type: r.type,
    source: r.source,
    subject: r.subject,
    match: r.match as unknown as LedgerMatch,
    domain: r.domain,
    traceId: r.traceId,
    fanOut: r.fanOut,
    ingest:
      r.ingestTopic !== null && r.ingestPartition !== null && r.ingestOffset !== null
        ? { topic: r.ingestTopic, partition: r.ingestPartition, offset: r.ingestOffset }
        : null,
  };
}

function toFullEvent(r: EventRow): LedgerEventFull {
  return {
    ...toEvent(r),
    payloadHeaders: r.payloadHeaders as Record<string, string>,
    payloadBody: Buffer.from(r.payloadBody),
  };
}

const toDelivery = (r: DeliveryRow): LedgerDeliveryRow => ({ ...r, status: r.status as LedgerDeliveryStatus });

const toAttempt = (r: AttemptRow): LedgerAttemptRow => ({
  attemptId: r.attemptId,
  eventId: r.eventId,
  subscriptionId: r.subscriptionId,
  attemptedAt: r.attemptedAt,
  source: r.source as LedgerAttemptRow['source'],
  attempt: r.attempt,
  durationMs: r.durationMs,
  statusCode: r.statusCode,
  errorCode: r.errorCode,
  responseSnippet: r.responseSnippet,
});

const range = (from?: Date, to?: Date) => (from || to ? { gte: from, lt: to } : undefined);

export class LedgerQueryPrisma implements LedgerQuery {
  constructor(private readonly prisma: PrismaClient) {}

  async listEvents(filter: EventFilter, limit: number, cursor?: string): Promise<Page<LedgerEventRow>> {
    const c = cursor === undefined ? undefined : decodeLedgerCursor(cursor, false);
    if (cursor !== undefined && !c) throw new Error('invalid cursor');
    const after: Prisma.LedgerEventWhereInput = c
      ? {
          receivedAt: { lte: c.receivedAt },
          OR: [{ receivedAt: { lt: c.receivedAt } }, { eventId: { lt: c.eventId } }],
        }
      : {};
    const rows = await this.prisma.ledgerEvent.findMany({
      where: {
        AND: [{ tenantId: filter.tenantId, type: filter.type, receivedAt: range(filter.from, filter.to) }, after],
      },
      orderBy: [{ receivedAt: 'desc' }, { eventId: 'desc' }],
      take: limit + 1,
      select: eventSummary,
    });
    const items = rows.slice(0, limit).map(toEvent);
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > limit && last ? encodeLedgerCursor({ receivedAt: last.receivedAt, eventId: last.eventId }) : null,
    };
  }

  async findEvent(eventId: string, tenantId?: string): Promise<LedgerEventFull | undefined> {
    const row = await this.prisma.ledgerEvent.findFirst({
      where: { eventId, tenantId },
      orderBy: { receivedAt: 'desc' },
    });
    return row ? toFullEvent(row) : undefined;
  }

  async deliveriesOf(e: EventKey): Promise<LedgerDeliveryRow[]> {
    const rows = await this.prisma.ledgerDelivery.findMany({
      where: { eventId: e.eventId, receivedAt: e.receivedAt, tenantId: e.tenantId },
      orderBy: { subscriptionId: 'asc' },
    });
    return rows.map(toDelivery);
  }

  async attemptsOf(e: EventKey, subscriptionId?: string): Promise<LedgerAttemptRow[]> {
    const rows = await this.prisma.ledgerAttempt.findMany({
      where: { eventId: e.eventId, receivedAt: e.receivedAt, tenantId: e.tenantId, subscriptionId },
      orderBy: [{ attemptedAt: 'asc' }, { attemptId: 'asc' }],
    });
    return rows.map(toAttempt);
  }

  async listDeliveries(filter: DeliveryFilter, limit: number, cursor?: string): Promise<Page<LedgerDeliveryRow>> {
    const c = cursor === undefined ? undefined : decodeLedgerCursor(cursor, true);
    if (cursor !== undefined && !c) throw new Error('invalid cursor');
    const after: Prisma.LedgerDeliveryWhereInput = c
      ? {
          receivedAt: { lte: c.receivedAt },
          OR: [
            { receivedAt: { lt: c.receivedAt } },
            { eventId: { lt: c.eventId } },
            { eventId: c.eventId, subscriptionId: { lt: c.subscriptionId } },
          ],
        }
      : {};
    const rows = await this.prisma.ledgerDelivery.findMany({
      where: {
        AND: [
          {
            tenantId: filter.tenantId,
            subscriptionId: filter.subscriptionId,
            eventId: filter.eventId,
            status: filter.status,
            receivedAt: range(filter.from, filter.to),
          },
          after,
        ],
      },
      orderBy: [{ receivedAt: 'desc' }, { eventId: 'desc' }, { subscriptionId: 'desc' }],
      take: limit + 1,
    });
    const items = rows.slice(0, limit).map(toDelivery);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeLedgerCursor(last) : null };
  }

  async findDelivery(
    eventId: string,
    subscriptionId: string,
    tenantId?: string,
  ): Promise<LedgerDeliveryRow | undefined> {
    const row = await this.prisma.ledgerDelivery.findFirst({
      where: { eventId, subscriptionId, tenantId },
      orderBy: { receivedAt: 'desc' },
    });
    return row ? toDelivery(row) : undefined;
  }

  private recoverWhere(sel: RecoverSelection): Prisma.LedgerDeliveryWhereInput {
    return {
      tenantId: sel.tenantId,
      subscriptionId: sel.subscriptionId,
      status: { in: sel.statuses },
      receivedAt: { gte: sel.since, lt: sel.until },
    };
  }

  countForRecover(sel: RecoverSelection): Promise<number> {
    return this.prisma.ledgerDelivery.count({ where: this.recoverWhere(sel) });
  }

  async pageForRecover(
    sel: RecoverSelection,
    after: { receivedAt: Date; eventId: string } | undefined,
    limit: number,
  ): Promise<{ delivery: LedgerDeliveryRow; event: LedgerEventFull | undefined }[]> {
    const deliveries = await this.prisma.ledgerDelivery.findMany({
      where: {
        AND: [
          this.recoverWhere(sel),
          after
            ? {
                receivedAt: { gte: after.receivedAt },
                OR: [{ receivedAt: { gt: after.receivedAt } }, { eventId: { gt: after.eventId } }],
              }
            : {},
        ],
      },
      orderBy: [{ receivedAt: 'asc' }, { eventId: 'asc' }],
      take: limit,
    });
    if (deliveries.length === 0) return [];
    const events = await this.prisma.ledgerEvent.findMany({
      where: {
        tenantId: sel.tenantId,
        receivedAt: { gte: deliveries[0]!.receivedAt, lte: deliveries.at(-1)!.receivedAt },
        eventId: { in: [...new Set(deliveries.map((d) => d.eventId))] },
      },
    });
    const byKey = new Map(events.map((e) => [`${e.eventId}\u0000${e.receivedAt.getTime()}`, toFullEvent(e)]));
    // A delivery whose event row is not (yet) written has no payload to re-send: `event` undefined.
    return deliveries.map((d) => ({
      delivery: toDelivery(d),
      event: byKey.get(`${d.eventId}\u0000${d.receivedAt.getTime()}`),
    }));
  }
}
