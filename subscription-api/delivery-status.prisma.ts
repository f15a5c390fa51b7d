/**
 * DeliveryStatusReader on Postgres. The dlt-processor writes both tables (FailedEvent rows HELD while a
 * subscription is paused; SubscriptionHealth when a delivery exhausts the retry schedule); this adapter only reads.
 *
 * One query per call, whatever the number of subscriptions (a list page): the page's (id, tenantId) pairs are
 * unnested and joined to the HELD rows grouped by subscription (partial index "FailedEvent_held_idx") and to
 * "SubscriptionHealth". Rows of another tenant naming the subscription are not counted.
 */
import type { PrismaClient } from '../prisma/client';
import type { DeliveryStatus, DeliveryStatusReader } from './ports';

interface Row {
  subscriptionId: string;
  heldCount: bigint | number | null;
  heldOldest: Date | null;
  failing: boolean | null;
  exhaustedCount: number | null;
  lastExhaustedAt: Date | null;
}

export class DeliveryStatusReaderPrisma implements DeliveryStatusReader {
  constructor(private readonly prisma: PrismaClient) {}

  async read(subscriptions: readonly { id: string; tenantId: string }[]): Promise<Map<string, DeliveryStatus>> {
    const out = new Map<string, DeliveryStatus>();
    if (subscriptions.length === 0) return out;
    const ids = subscriptions.map((s) => s.id);
    const tenants = subscriptions.map((s) => s.tenantId);
    const rows = await this.prisma.$queryRaw<Row[]>`
      SELECT s.id AS "subscriptionId", held.n AS "heldCount", held.oldest AS "heldOldest",
             h."failing", h."exhaustedCount", h."lastExhaustedAt"
      FROM unnest(${ids}::text[], ${tenants}::text[]) AS s(id, tenant)
      LEFT JOIN (
        SELECT "subscriptionId", "tenantId", count(*) AS n, min("createdAt") AS oldest FROM "FailedEvent"
        WHERE "status" = 'HELD' AND "subscriptionId" = ANY(${ids}::text[])
        GROUP BY "subscriptionId", "tenantId"
      ) held ON held."subscriptionId" = s.id AND held."tenantId" = s.tenant
      LEFT JOIN "SubscriptionHealth" h ON h."subscriptionId" = s.id AND h."tenantId" = s.tenant
      WHERE held.n IS NOT NULL OR h."subscriptionId" IS NOT NULL`;
    for (const r of rows) {
      out.set(r.subscriptionId, {
        held: { count: Number(r.heldCount ?? 0), oldestAt: r.heldOldest ?? null },
        health: {
          failing: r.failing ?? false,
          exhaustedDeliveries: r.exhaustedCount ?? 0,
          lastExhaustedAt: r.lastExhaustedAt ?? null,
        },
      });
    }
    return out;
  }
}
