/**
 * The change audit on Postgres (table "ChangeAudit", migration 20261201020000_change_audit).
 *
 * - `recordChangeAudit(tx, entry)`: one INSERT on the caller's transaction client, so the entry commits or rolls back
 *   with the change it records. Typed structurally: any Prisma transaction client fits.
 * - `ChangeAuditQueryPrisma`: the operator API's read side, newest first (id descending) with keyset cursors; the
 *   indexes ("tenantId", id DESC) and ("resourceType", "resourceId", id DESC) serve the usual filters.
 */
import type { Prisma, PrismaClient } from '../../../prisma/client';
import {
  type ChangeAction,
  type ChangeAuditEntry,
  type ChangeAuditFilter,
  type ChangeAuditQuery,
  type ChangeAuditRow,
  type ChangeResourceType,
  decodeAuditCursor,
  encodeAuditCursor,
} from './change-audit';

/** What `recordChangeAudit` needs of a transaction client. */
export interface ChangeAuditTx {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

export async function recordChangeAudit(tx: ChangeAuditTx, e: ChangeAuditEntry): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "ChangeAudit" ("tenantId", "actorKeyId", "actorName", "action", "resourceType", "resourceId",
       "version", "changedFields", "requestId")
     VALUES ($1, $2, $3, $4, $5, $6, $7::integer, $8::jsonb, $9)`,
    e.tenantId,
    e.actor.keyId,
    e.actor.name,
    e.action,
    e.resourceType,
    e.resourceId,
    e.version,
    JSON.stringify(e.changedFields),
    e.actor.requestId,
  );
}

type Row = Prisma.ChangeAuditGetPayload<object>;

/** A stored row as an entry (also the changelog relay's, from its raw query with the same column names). */
export const toRow = (r: Pick<Row, Exclude<keyof Row, 'publishedAt'>>): ChangeAuditRow => ({
  id: r.id.toString(),
  at: r.at,
  tenantId: r.tenantId,
  actor: { keyId: r.actorKeyId, name: r.actorName, requestId: r.requestId },
  action: r.action as ChangeAction,
  resourceType: r.resourceType as ChangeResourceType,
  resourceId: r.resourceId,
  version: r.version,
  changedFields: Array.isArray(r.changedFields) ? (r.changedFields as string[]) : [],
});

export class ChangeAuditQueryPrisma implements ChangeAuditQuery {
  constructor(private readonly prisma: PrismaClient) {}

  async list(filter: ChangeAuditFilter, limit: number, cursor?: string) {
    const before = cursor === undefined ? undefined : decodeAuditCursor(cursor);
    if (cursor !== undefined && before === undefined) throw new Error('invalid cursor');
    const rows = await this.prisma.changeAudit.findMany({
      where: {
        tenantId: filter.tenantId,
        resourceType: filter.resourceType,
        resourceId: filter.resourceId,
        action: filter.action,
        ...(filter.from || filter.to ? { at: { gte: filter.from, lt: filter.to } } : {}),
        ...(before !== undefined ? { id: { lt: BigInt(before) } } : {}),
      },
      orderBy: { id: 'desc' },
      take: limit + 1,
    });
    const items = rows.slice(0, limit).map(toRow);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeAuditCursor(last.id) : null };
  }
}
