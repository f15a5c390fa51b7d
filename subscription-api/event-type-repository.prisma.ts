/** EventTypeRepository on Postgres through Prisma (model `EventType`); structurally typed. */
import type { Domain } from '../pipeline/shared/topics';
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

export interface EventTypePrisma {
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

  async create(record: EventTypeRecord) {
    try {
      return toRecord(await this.prisma.eventType.create({ data: { ...record } }));
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

  async update(id: string, patch: Partial<Omit<EventTypeRecord, 'id' | 'name' | 'createdAt'>>) {
    try {
      return toRecord(await this.prisma.eventType.update({ where: { id }, data: patch }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(id: string) {
    return (await this.prisma.eventType.deleteMany({ where: { id } })).count > 0;
  }
}
