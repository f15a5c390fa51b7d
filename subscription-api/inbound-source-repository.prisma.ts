/**
 * InboundSourceRepository on Postgres through Prisma. Every write records its change-audit entry in the same
 * transaction (like the subscription repository), so a committed change always has its entry:
 *
 *   BEGIN
 *     (update/delete) SELECT ... FOR UPDATE      serialises writers of one source (a rotation and a PATCH)
 *     write the InboundSource row (version + 1)
 *     INSERT ChangeAudit(action, actor, changed field names)
 *   COMMIT
 *
 * No changelog: the event-processor reads sources from Postgres by id with a short cache (see
 * `pipeline/event-processor/inbound-sources.prisma.ts` for why).
 */
import type { ChangeActor } from '../pipeline/shared/change-audit/change-audit';
import { recordChangeAudit } from '../pipeline/shared/change-audit/change-audit.prisma';
import type { InboundSourceRecord } from '../pipeline/shared/inbound/inbound-source';
import {
  type InboundSourceRow,
  isUuid,
  readInboundSource,
  toInboundSourceRecord,
  toInboundSourceRow,
} from '../pipeline/shared/inbound/inbound-source.prisma';
import type { Prisma, PrismaClient } from '../prisma/client';
import { inboundSourceAuditEntry } from './change-audit';
import type { InboundSourceRepository } from './inbound-sources';

type Tx = Prisma.TransactionClient;

async function lockRow(tx: Tx, id: string): Promise<InboundSourceRow | null> {
  const locked = await tx.$executeRawUnsafe('SELECT 1 FROM "InboundSource" WHERE id = $1::uuid FOR UPDATE', id);
  if (locked === 0) return null;
  return tx.inboundSource.findUnique({ where: { id } });
}

export class InboundSourceRepositoryPrisma implements InboundSourceRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async insert(record: InboundSourceRecord, actor?: ChangeActor): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      await tx.inboundSource.create({ data: toInboundSourceRow(record) });
      await recordChangeAudit(tx, inboundSourceAuditEntry(undefined, record, actor));
    });
  }

  get(id: string): Promise<InboundSourceRecord | undefined> {
    return readInboundSource(this.prisma, id);
  }

  async update(
    id: string,
    mutate: (current: InboundSourceRecord) => InboundSourceRecord,
    actor?: ChangeActor,
  ): Promise<InboundSourceRecord | undefined> {
    if (!isUuid(id)) return undefined;
    return this.prisma.$transaction(async (tx) => {
      const row = await lockRow(tx, id);
      if (!row) return undefined;
      const current = toInboundSourceRecord(row);
      const next = mutate(current);
      if (next === current) return current;
      const saved: InboundSourceRecord = { ...next, id, version: current.version + 1, updatedAt: new Date() };
      const { id: _id, createdAt: _c, ...data } = toInboundSourceRow(saved);
      await tx.inboundSource.update({ where: { id }, data });
      await recordChangeAudit(tx, inboundSourceAuditEntry(current, saved, actor));
      return saved;
    });
  }

  async delete(
    id: string,
    guard: (current: InboundSourceRecord) => void,
    actor?: ChangeActor,
  ): Promise<InboundSourceRecord | undefined> {
    if (!isUuid(id)) return undefined;
    return this.prisma.$transaction(async (tx) => {
      const row = await lockRow(tx, id);
      if (!row) return undefined;
      const current = toInboundSourceRecord(row);
      guard(current);
      await tx.inboundSource.delete({ where: { id } });
      // The source's dedupe rows go with it; a re-created source has a new id anyway.
      await tx.inboundDelivery.deleteMany({ where: { sourceId: id } });
      await recordChangeAudit(tx, inboundSourceAuditEntry(current, undefined, actor));
      return current;
    });
  }

  async list(filter: { tenantId?: string }, page: { limit: number; afterId?: string }) {
    const rows = await this.prisma.inboundSource.findMany({
      where: {
        ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}),
        ...(page.afterId !== undefined ? { id: { gt: page.afterId } } : {}),
      },
      orderBy: { id: 'asc' },
      take: page.limit,
    });
    return rows.map(toInboundSourceRecord);
  }
}
