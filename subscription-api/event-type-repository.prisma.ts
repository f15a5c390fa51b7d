/**
 * EventTypeRepository on Postgres through Prisma (model `EventType`); structurally typed. Every write runs in a
 * transaction with its change-audit entry (INSERT "ChangeAudit"): both commit or neither does.
 */
import type { ChangeActor } from '../pipeline/shared/change-audit/change-audit';
import { type ChangeAuditTx, recordChangeAudit } from '../pipeline/shared/change-audit/change-audit.prisma';
import type { Domain } from '../pipeline/shared/topics';
import { eventTypeAuditEntry } from './change-audit';
import { DuplicateError, type EventTypeRecord, type EventTypeRepository } from './ports';

interface EventTypeRow {
  id: string;
  name: string;
  description: string | null;
  domain: string;
  schemaRef: string | null;
  deprecated: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventTypePrisma extends EventTypeTx {
  $transaction<R>(fn: (tx: EventTypeTx) => Promise<R>): Promise<R>;
}

/** What the repository needs of a (transaction) client. */
export interface EventTypeTx extends ChangeAuditTx {
  eventType: {
    create(args: { data: EventTypeRow }): Promise<EventTypeRow>;
    findUnique(args: { where: { id: string } | { name: string } }): Promise<EventTypeRow | null>;
    findMany(args: {
      where: { domain?: string; deprecated?: boolean };
      orderBy: { name: 'asc' };
    }): Promise<EventTypeRow[]>;
    update(args: {
      where: { id: string };
      data: Partial<Omit<EventTypeRow, 'id' | 'name' | 'createdAt'>>;
    }): Promise<EventTypeRow>;
    deleteMany(args: { where: { id: string } }): Promise<{ count: number }>;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const toRecord = (r: EventTypeRow): EventTypeRecord => ({ ...r, domain: r.domain as Domain });
const isUniqueViolation = (err: unknown) =>
  typeof err === 'object' && err !== null && (err as { code?: string }).code === 'P2002';
const isNotFound = (err: unknown) =>
  typeof err === 'object' && err !== null && (err as { code?: string }).code === 'P2025';

export class EventTypeRepositoryPrisma implements EventTypeRepository {
  constructor(private readonly prisma: EventTypePrisma) {}

  async create(record: EventTypeRecord, actor?: ChangeActor) {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const created = toRecord(await tx.eventType.create({ data: { ...record } }));
        await recordChangeAudit(tx, eventTypeAuditEntry(undefined, created, actor));
        return created;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError(`event type ${record.name} exists`);
      throw err;
    }
  }

  async get(idOrName: string) {
    const row =
      (UUID.test(idOrName) ? await this.prisma.eventType.findUnique({ where: { id: idOrName } }) : null) ??
      (await this.prisma.eventType.findUnique({ where: { name: idOrName } }));
    return row ? toRecord(row) : undefined;
  }

  async list(filter: { domain?: Domain; deprecated?: boolean }) {
    const rows = await this.prisma.eventType.findMany({
      where: {
        ...(filter.domain !== undefined ? { domain: filter.domain } : {}),
        ...(filter.deprecated !== undefined ? { deprecated: filter.deprecated } : {}),
      },
      orderBy: { name: 'asc' },
    });
    return rows.map(toRecord);
  }

  async update(id: string, patch: Partial<Omit<EventTypeRecord, 'id' | 'name' | 'createdAt'>>, actor?: ChangeActor) {
    if (!UUID.test(id)) return undefined;
    try {
      return await this.prisma.$transaction(async (tx) => {
        // Row lock: concurrent updates are audited one after the other, each against the state it replaced.
        await tx.$executeRawUnsafe('SELECT 1 FROM "EventType" WHERE id = $1 FOR UPDATE', id);
        const before = await tx.eventType.findUnique({ where: { id } });
        if (!before) return undefined;
        const after = toRecord(await tx.eventType.update({ where: { id }, data: patch }));
        await recordChangeAudit(tx, eventTypeAuditEntry(toRecord(before), after, actor));
        return after;
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(id: string, actor?: ChangeActor) {
    if (!UUID.test(id)) return false;
    return this.prisma.$transaction(async (tx) => {
      const before = await tx.eventType.findUnique({ where: { id } });
      if (!before || (await tx.eventType.deleteMany({ where: { id } })).count === 0) return false;
      await recordChangeAudit(tx, eventTypeAuditEntry(toRecord(before), undefined, actor));
      return true;
    });
  }
}
