/**
 * What the operator console's overview shows besides failures: deliveries per minute over the last hour (from the
 * delivery ledger's attempt rows), the rate and error rate of the last five minutes, and every hub consumer group's
 * lag (operators only: it is the whole hub's, not a tenant's).
 *
 *   GET /v1/stats/overview?tenantId=  ─▶ { minutes: [{ at, delivered, failed }], deliveriesPerSecond, errorRate,
 *                                          lag: [{ groupId, lag }] | null }
 */
import type { Admin } from 'kafkajs';
import type { PrismaClient } from '../../prisma/client';

export interface MinuteBucket {
  /** The minute's start, ISO. */
  at: string;
  /** Attempts answered 2xx. */
  delivered: number;
  /** Attempts that were not (an error status, a timeout, a refused connection). */
  failed: number;
}

export interface GroupLag {
  groupId: string;
  /** Records behind the end of the topics the group has offsets on. */
  lag: number;
}

export interface OverviewStats {
  /** The last `minutes` minutes, oldest first, every minute present. */
  attemptsPerMinute(tenantId: string | undefined, minutes: number, now?: Date): Promise<MinuteBucket[]>;
  /** Every consumer group with committed offsets on the hub's topics; undefined when the broker does not answer. */
  lag(): Promise<GroupLag[] | undefined>;
}

const MINUTE = 60_000;

/** Attempt rows per minute (the day partitions of the last two days only: an attempt's event was received then). */
export function ledgerAttemptsPerMinute(prisma: PrismaClient) {
  return async (tenantId: string | undefined, minutes: number, now = new Date()): Promise<MinuteBucket[]> => {
    const end = Math.floor(now.getTime() / MINUTE) * MINUTE + MINUTE;
    const start = end - minutes * MINUTE;
    const rows = await prisma.$queryRaw<{ m: Date; ok: number; bad: number }[]>`
      SELECT date_trunc('minute', "attemptedAt") AS m,
        count(*) FILTER (WHERE "statusCode" BETWEEN 200 AND 299)::int AS ok,
        count(*) FILTER (WHERE "statusCode" IS NULL OR "statusCode" NOT BETWEEN 200 AND 299)::int AS bad
      FROM "LedgerAttempt"
      WHERE "receivedAt" >= (${new Date(start - 2 * 86_400_000).toISOString()}::timestamptz AT TIME ZONE 'UTC')
        AND "attemptedAt" >= (${new Date(start).toISOString()}::timestamptz AT TIME ZONE 'UTC')
        AND (${tenantId ?? null}::text IS NULL OR "tenantId" = ${tenantId ?? null}::text)
      GROUP BY 1`;
    const byMinute = new Map(rows.map((r) => [r.m.getTime(), r]));
    const out: MinuteBucket[] = [];
    for (let t = start; t < end; t += MINUTE) {
      const r = byMinute.get(t);
      out.push({ at: new Date(t).toISOString(), delivered: r?.ok ?? 0, failed: r?.bad ?? 0 });
    }
    return out;
  };
}

/**
 * Consumer lag of every group with committed offsets on topics named `<prefix>.…` or on `extraTopics` (the
 * ingest topics), cached for `ttlMs` so a console left open does not query the broker on every refresh.
 */
export function kafkaGroupLag(admin: Admin, prefix: string, extraTopics: string[] = [], ttlMs = 5_000) {
  let cached: { at: number; value: GroupLag[] } | undefined;
  const ours = (topic: string) => topic.startsWith(`${prefix}.`) || extraTopics.includes(topic);
  return async (): Promise<GroupLag[] | undefined> => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    try {
      const { groups } = await admin.listGroups();
      const ends = new Map<string, Map<number, bigint>>();
      const endOf = async (topic: string) => {
        let e = ends.get(topic);
        if (!e) {
          const offsets = await admin.fetchTopicOffsets(topic);
          e = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
          ends.set(topic, e);
        }
        return e;
      };
      const out: GroupLag[] = [];
      for (const { groupId } of groups) {
        const committed = await admin.fetchOffsets({ groupId });
        let lag = 0n;
        let any = false;
        for (const t of committed) {
          if (!ours(t.topic)) continue;
          const end = await endOf(t.topic);
          for (const p of t.partitions) {
            if (p.offset === '-1') continue;
            any = true;
            const behind = (end.get(p.partition) ?? 0n) - BigInt(p.offset);
            if (behind > 0n) lag += behind;
          }
        }
        if (any) out.push({ groupId, lag: Number(lag) });
      }
      out.sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
      cached = { at: Date.now(), value: out };
      return out;
    } catch {
      return undefined;
    }
  };
}
