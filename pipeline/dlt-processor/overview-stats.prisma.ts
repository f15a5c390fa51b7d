/** The overview's attempts per minute from the delivery ledger (overview-stats.ts). */
import type { PrismaClient } from '../../prisma/client';
import type { MinuteBucket } from './overview-stats';

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
