import { randomUUID } from 'node:crypto';
import { apiKeyAuditEntry, type ChangeAuditEntry } from '../change-audit/change-audit';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from './api-key-store';

/** In-memory ApiKeyStore for unit tests and local tools; `audits` holds the change-audit entries in order. */
export function memoryApiKeyStore(initial: ApiKeyRecord[] = []): ApiKeyStore & { audits: ChangeAuditEntry[] } {
  const byId = new Map(initial.map((r) => [r.id, { ...r }]));
  const copy = (r: ApiKeyRecord | undefined) => (r ? { ...r } : undefined);
  const audits: ChangeAuditEntry[] = [];
  return {
    audits,
    async findByHash(hash) {
      return copy([...byId.values()].find((r) => r.hash === hash));
    },
    async findById(id) {
      return copy(byId.get(id));
    },
    async create(input: NewApiKey, actor) {
      if ([...byId.values()].some((r) => r.hash === input.hash)) throw new Error('an API key with this hash exists');
      const rec: ApiKeyRecord = { id: randomUUID(), ...input, createdAt: new Date(), revokedAt: null };
      byId.set(rec.id, rec);
      audits.push(apiKeyAuditEntry('api_key.created', rec, actor));
      return { ...rec };
    },
    async list(filter = {}) {
      return (
        [...byId.values()]
          .filter((r) => filter.tenantId === undefined || r.tenantId === filter.tenantId)
          .filter((r) => filter.includeRevoked || r.revokedAt === null)
          // stable sort: keys created in the same millisecond keep insertion order
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
          .map((r) => ({ ...r }))
      );
    },
    async revoke(id, at = new Date(), actor) {
      const rec = byId.get(id);
      if (!rec) return undefined;
      if (rec.revokedAt === null) {
        rec.revokedAt = at;
        audits.push(apiKeyAuditEntry('api_key.revoked', rec, actor));
      }
      return { ...rec };
    },
  };
}
