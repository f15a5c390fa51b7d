/**
 * SubscriptionRepository on Postgres through Prisma, with the transactional outbox:
 *
 *   BEGIN
 *     (update/delete) SELECT ... FOR UPDATE            serialises writers of one subscription
 *     write the Subscription row (version + 1)
 *     INSERT SubscriptionChange(subscriptionId, snapshot | NULL)   the changelog record, same transaction
 *     INSERT ChangeAudit(action, actor, changed field names)      the change audit, same transaction
 *     pg_notify('subscription_changes')                 wakes the relay on COMMIT
 *   COMMIT
 *
 * So a subscription change, its changelog record and its audit entry are committed together or not at all.
 */

import type { ChangeActor } from '../pipeline/shared/change-audit/change-audit';
import { recordChangeAudit } from '../pipeline/shared/change-audit/change-audit.prisma';
import type { SubscriptionSnapshot } from '../pipeline/shared/subscriptions/snapshot';
import { Prisma, type PrismaClient } from '../prisma/client';
import { subscriptionAuditEntry } from './change-audit';
import {
  DuplicateError,
  type SubscriptionFilter,
  type SubscriptionRecord,
  type SubscriptionRepository,
  toSnapshot,
} from './ports';

/** SQL identifiers of the outbox table (shared with the relay). */
export const CHANGE_TABLE = {
  name: '"SubscriptionChange"',
  subscriptionId: '"subscriptionId"',
  snapshot: '"snapshot"',
  publishedAt: '"publishedAt"',
} as const;
export const NOTIFY_CHANNEL = 'subscription_changes';

type SubscriptionRow = Prisma.SubscriptionGetPayload<object>;
type RowData = Prisma.SubscriptionUncheckedCreateInput;
type Where = Prisma.SubscriptionWhereInput;
type Tx = Prisma.TransactionClient;
export type SubscriptionPrisma = PrismaClient;

function toRow(r: SubscriptionRecord): RowData {
  return {
    id: r.id,
    tenantId: r.tenantId,
    description: r.description,
    status: r.status,
    sourceService: r.match.sourceService,
    eventType: r.match.eventType,
    resourceType: r.match.resourceType,
    operationType: r.match.operationType,
    endpointUrl: r.endpointUrl,
    contentMode: r.contentMode,
    auth: r.auth as Prisma.InputJsonValue,
    signing: r.signing as Prisma.InputJsonValue,
    customHeaders: r.customHeaders as Prisma.InputJsonValue,
    maxAttempts: r.maxAttempts,
    retrySchedule: r.retrySchedule === null ? Prisma.DbNull : r.retrySchedule,
    ordered: r.ordered,
    batch: r.batch === null ? Prisma.DbNull : r.batch,
    version: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

function toRecord(row: SubscriptionRow): SubscriptionRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    description: row.description,
    status: row.status as SubscriptionRecord['status'],
    match: {
      sourceService: row.sourceService,
      eventType: row.eventType,
      resourceType: row.resourceType,
      operationType: row.operationType,
    },
    endpointUrl: row.endpointUrl,
    contentMode: row.contentMode as SubscriptionRecord['contentMode'],
    auth: row.auth as SubscriptionRecord['auth'],
    signing: row.signing as SubscriptionRecord['signing'],
    customHeaders: (row.customHeaders ?? {}) as Record<string, string>,
    maxAttempts: row.maxAttempts,
    retrySchedule: Array.isArray(row.retrySchedule) ? (row.retrySchedule as number[]) : null,
    ordered: row.ordered,
    batch: isBatch(row.batch) ? { maxEvents: row.batch.maxEvents, maxWaitMs: row.batch.maxWaitMs } : null,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function isBatch(v: unknown): v is { maxEvents: number; maxWaitMs: number } {
  const b = v as { maxEvents?: unknown; maxWaitMs?: unknown } | null;
  return typeof b?.maxEvents === 'number' && typeof b.maxWaitMs === 'number';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function recordChange(tx: Tx, id: string, snapshot: SubscriptionSnapshot | null): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO ${CHANGE_TABLE.name} (${CHANGE_TABLE.subscriptionId}, ${CHANGE_TABLE.snapshot}) VALUES ($1, $2::jsonb)`,
    id,
    snapshot === null ? null : JSON.stringify(snapshot),
  );
  await tx.$executeRawUnsafe(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`);
}

async function lockRow(tx: Tx, id: string): Promise<SubscriptionRow | null> {
  const locked = await tx.$executeRawUnsafe('SELECT 1 FROM "Subscription" WHERE id = $1 FOR UPDATE', id);
  if (locked === 0) return null;
  return tx.subscription.findUnique({ where: { id } });
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'P2002';
}

export class SubscriptionRepositoryPrisma implements SubscriptionRepository {
  constructor(private readonly prisma: SubscriptionPrisma) {}

  async insert(record: SubscriptionRecord, actor?: ChangeActor): Promise<void> {
    try {
      await this.prisma.$transaction(async (tx) => {
        await tx.subscription.create({ data: toRow(record) });
        await recordChange(tx, record.id, toSnapshot(record));
        await recordChangeAudit(tx, subscriptionAuditEntry(undefined, record, actor));
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateError(`subscription ${record.id} exists`);
      throw err;
    }
  }

  async get(id: string): Promise<SubscriptionRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const row = await this.prisma.subscription.findUnique({ where: { id } });
    return row ? toRecord(row) : undefined;
  }

  async update(
    id: string,
    mutate: (current: SubscriptionRecord) => SubscriptionRecord | Promise<SubscriptionRecord>,
    actor?: ChangeActor,
  ): Promise<SubscriptionRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    return this.prisma.$transaction(async (tx) => {
      const row = await lockRow(tx, id);
      if (!row) return undefined;
      const current = toRecord(row);
      const next = await mutate(current);
      if (next === current) return current;
      const saved: SubscriptionRecord = { ...next, id, version: current.version + 1, updatedAt: new Date() };
      const { id: _id, createdAt: _c, ...data } = toRow(saved);
      await tx.subscription.update({ where: { id }, data });
      await recordChange(tx, id, toSnapshot(saved));
      await recordChangeAudit(tx, subscriptionAuditEntry(current, saved, actor));
      return saved;
    });
  }

  async delete(
    id: string,
    guard: (current: SubscriptionRecord) => void,
    actor?: ChangeActor,
  ): Promise<SubscriptionRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    return this.prisma.$transaction(async (tx) => {
      const row = await lockRow(tx, id);
      if (!row) return undefined;
      const current = toRecord(row);
      guard(current);
      await tx.subscription.delete({ where: { id } });
      await recordChange(tx, id, null);
      await recordChangeAudit(tx, subscriptionAuditEntry(current, undefined, actor));
      return current;
    });
  }

  async list(f: SubscriptionFilter, page: { limit: number; afterId?: string }): Promise<SubscriptionRecord[]> {
    const where: Where = {};
    for (const k of ['tenantId', 'status', 'sourceService', 'eventType', 'resourceType', 'operationType'] as const) {
      if (f[k] !== undefined) where[k] = f[k];
    }
    if (page.afterId !== undefined) where.id = { gt: page.afterId };
    const rows = await this.prisma.subscription.findMany({ where, orderBy: { id: 'asc' }, take: page.limit });
    return rows.map(toRecord);
  }
}
