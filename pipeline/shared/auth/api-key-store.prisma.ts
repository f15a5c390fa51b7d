/**
 * ApiKeyStore on Postgres through Prisma (model `ApiKey`). Only the SHA-256 of a key is stored. Create and revoke
 * run in a transaction with their change-audit entry (INSERT "ChangeAudit"): both commit or neither does.
 *
 * Typed structurally (the few delegate calls used), so any generated client with the `ApiKey` model fits.
 */
import { apiKeyAuditEntry, type ChangeActor } from '../change-audit/change-audit';
import { type ChangeAuditTx, recordChangeAudit } from '../change-audit/change-audit.prisma';
import { uuidv7 } from '../ids';
import type { Role } from './api-key';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from './api-key-store';

interface ApiKeyRow {
  id: string;
  name: string;
  role: string;
  tenantId: string | null;
  prefix: string;
  hash: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface ApiKeyPrisma extends ApiKeyTx {
  $transaction<R>(fn: (tx: ApiKeyTx) => Promise<R>): Promise<R>;
}

/** What the store needs of a (transaction) client. */
export interface ApiKeyTx extends ChangeAuditTx {
  apiKey: {
    findUnique(args: { where: { hash: string } | { id: string } }): Promise<ApiKeyRow | null>;
    create(args: { data: NewApiKey & { id: string } }): Promise<ApiKeyRow>;
    findMany(args: { where: { tenantId?: string; revokedAt?: null }; orderBy: { id: 'asc' } }): Promise<ApiKeyRow[]>;
    updateMany(args: { where: { id: string; revokedAt: null }; data: { revokedAt: Date } }): Promise<{ count: number }>;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toRecord(r: ApiKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    tenantId: r.tenantId,
    prefix: r.prefix,
    hash: r.hash,
    createdAt: r.createdAt,
    revokedAt: r.revokedAt,
  };
}

export class ApiKeyStorePrisma implements ApiKeyStore {
  constructor(private readonly prisma: ApiKeyPrisma) {}

  async findByHash(hash: string) {
    const row = await this.prisma.apiKey.findUnique({ where: { hash } });
    return row ? toRecord(row) : undefined;
  }

  async findById(id: string) {
    if (!UUID.test(id)) return undefined;
    const row = await this.prisma.apiKey.findUnique({ where: { id } });
    return row ? toRecord(row) : undefined;
  }

  async create(input: NewApiKey, actor?: ChangeActor) {
    const { name, role, tenantId, prefix, hash } = input;
    return this.prisma.$transaction(async (tx) => {
      const rec = toRecord(await tx.apiKey.create({ data: { id: uuidv7(), name, role, tenantId, prefix, hash } }));
      await recordChangeAudit(tx, apiKeyAuditEntry('api_key.created', rec, actor));
      return rec;
    });
  }

  async list(filter: { tenantId?: string; includeRevoked?: boolean } = {}) {
    const rows = await this.prisma.apiKey.findMany({
      where: {
        ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}),
        ...(filter.includeRevoked ? {} : { revokedAt: null }),
      },
      // ids are UUIDv7: id order is creation order, also within one millisecond
      orderBy: { id: 'asc' },
    });
    return rows.map(toRecord);
  }

  async revoke(id: string, at: Date = new Date(), actor?: ChangeActor) {
    if (!UUID.test(id)) return undefined;
    return this.prisma.$transaction(async (tx) => {
      // Conditional update: the first revocation time sticks, and only that one is audited.
      const { count } = await tx.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
      const row = await tx.apiKey.findUnique({ where: { id } });
      if (!row) return undefined;
      if (count > 0) await recordChangeAudit(tx, apiKeyAuditEntry('api_key.revoked', row, actor));
      return toRecord(row);
    });
  }
}
