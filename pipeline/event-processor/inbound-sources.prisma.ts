/**
 * The inbound edge's Postgres adapters: the source lookup (with a short cache) and the delivery-id dedupe window.
 *
 * Why Postgres and not a changelog like subscriptions: inbound sources are needed only by the HTTP edge, which is
 * served only when DATABASE_URL is set and already reads API keys from Postgres (cached). A lookup is one primary-key
 * read per source and cache TTL, not per event; a changelog topic, relay and directory for sources would add a second
 * replication path for no gain on this path. Changes (PATCH, rotate, delete) apply within the TTL.
 *
 * Dedupe: the delivery-id row is inserted in a transaction that commits only after the produce was acknowledged:
 *
 *   BEGIN
 *     INSERT "InboundDelivery" (source, delivery id) ON CONFLICT DO UPDATE ... WHERE the old row is outside the window
 *       RETURNING   -- no row: a delivery accepted within the window -> duplicate (a concurrent one waits for us)
 *     produce to the ingest topic (acks=all)
 *   COMMIT          -- a failed produce rolls back, so the vendor's retry is not taken for a duplicate
 *
 * A crash between the produce and COMMIT leaves no row: the vendor (who got no 2xx) retries and the event is produced
 * again with the same id (at least once; subscribers dedupe on webhook-id).
 */
import type { PrismaClient } from '../../prisma/client';
import type { InboundSourceRecord } from '../shared/inbound/inbound-source';
import { readInboundSource } from '../shared/inbound/inbound-source.prisma';
import type { InboundDedupe, InboundSourceLookup } from './http-inbound';

const MAX_CACHED = 10_000;

export function cachedInboundSources(
  prisma: PrismaClient,
  ttlMs: number,
  now: () => number = Date.now,
): InboundSourceLookup {
  // Unknown ids are cached too (as undefined): a flood of made-up ids costs one query per id and TTL, not per call.
  const cache = new Map<string, { at: number; source: InboundSourceRecord | undefined }>();
  return {
    async get(id) {
      const hit = cache.get(id);
      if (hit && now() - hit.at < ttlMs) return hit.source;
      const source = await readInboundSource(prisma, id);
      if (!hit && cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
      cache.set(id, { at: now(), source });
      return source;
    },
  };
}

export function prismaInboundDedupe(
  prisma: PrismaClient,
  opts: { windowMs: number; transactionTimeoutMs?: number },
): InboundDedupe {
  return {
    async acceptOnce(sourceId, deliveryId, eventId, produce) {
      return prisma.$transaction(
        async (tx) => {
          const claimed = await tx.$queryRawUnsafe<unknown[]>(
            `INSERT INTO "InboundDelivery" ("sourceId", "deliveryId", "eventId", "receivedAt")
             VALUES ($1::uuid, $2, $3, now())
             ON CONFLICT ("sourceId", "deliveryId") DO UPDATE
               SET "eventId" = EXCLUDED."eventId", "receivedAt" = EXCLUDED."receivedAt"
               WHERE "InboundDelivery"."receivedAt" < now() - ($4::bigint * interval '1 millisecond')
             RETURNING 1`,
            sourceId,
            deliveryId,
            eventId,
            opts.windowMs,
          );
          if (claimed.length === 0) return 'duplicate' as const;
          await produce();
          return 'accepted' as const;
        },
        // Waiting for a pool connection under a burst is fine; the produce inside has kafkajs's own timeouts.
        { maxWait: 10_000, timeout: opts.transactionTimeoutMs ?? 60_000 },
      );
    },
    async prune() {
      return prisma.$executeRawUnsafe(
        `DELETE FROM "InboundDelivery" WHERE ctid IN (
           SELECT ctid FROM "InboundDelivery" WHERE "receivedAt" < now() - ($1::bigint * interval '1 millisecond')
           LIMIT 10000)`,
        opts.windowMs,
      );
    },
  };
}
