/**
 * Inbound sources on Postgres (table "InboundSource", migration 20261201030000_inbound_sources): the row mapping both
 * the subscription-api's repository (writes) and the event-processor's lookup (reads by id) use.
 */
import { Prisma, type PrismaClient } from '../../../prisma/client';
import type { InboundSourceRecord } from './inbound-source';

export type InboundSourceRow = Prisma.InboundSourceGetPayload<object>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (id: string): boolean => UUID.test(id);

export function toInboundSourceRow(r: InboundSourceRecord): Prisma.InboundSourceUncheckedCreateInput {
  return {
    id: r.id,
    tenantId: r.tenantId,
    name: r.name,
    scheme: r.verification.scheme,
    verification: r.verification as Prisma.InputJsonValue,
    secrets: r.secrets === null ? Prisma.DbNull : (r.secrets as unknown as Prisma.InputJsonValue),
    allowedCidrs: r.allowedCidrs,
    dedupe: r.dedupe === null ? Prisma.DbNull : (r.dedupe as Prisma.InputJsonValue),
    mapping: r.mapping as unknown as Prisma.InputJsonValue,
    version: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function toInboundSourceRecord(row: InboundSourceRow): InboundSourceRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    verification: row.verification as unknown as InboundSourceRecord['verification'],
    secrets: (row.secrets ?? null) as unknown as InboundSourceRecord['secrets'],
    allowedCidrs: Array.isArray(row.allowedCidrs) ? (row.allowedCidrs as string[]) : [],
    dedupe: (row.dedupe ?? null) as unknown as InboundSourceRecord['dedupe'],
    mapping: row.mapping as unknown as InboundSourceRecord['mapping'],
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** One source by id (undefined when there is none, or the id is not a UUID). */
export async function readInboundSource(prisma: PrismaClient, id: string): Promise<InboundSourceRecord | undefined> {
  if (!isUuid(id)) return undefined;
  const row = await prisma.inboundSource.findUnique({ where: { id } });
  return row ? toInboundSourceRecord(row) : undefined;
}
