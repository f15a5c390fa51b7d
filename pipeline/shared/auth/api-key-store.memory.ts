import { randomUUID } from 'node:crypto';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from './api-key-store';

/** In-memory ApiKeyStore for unit tests and local tools. */
export function memoryApiKeyStore(initial: ApiKeyRecord[] = []): ApiKeyStore {
  const byId = new Map(initial.map((r) => [r.id, { ...r }]));
  const copy = (r: ApiKeyRecord | undefined) => (r ? { ...r } : undefined);
  return {
    async findByHash(hash) {
      return copy([...byId.values()].find((r) => r.hash === hash));
    },
    async findById(id) {
      return copy(byId.get(id));
    },
    async create(input: NewApiKey) {
      if ([...byId.values()].some((r) => r.hash === input.hash)) throw new Error('an API key with this hash exists');
      const rec: ApiKeyRecord = { id: randomUUID(), ...input, createdAt: new Date(), revokedAt: null };
      byId.set(rec.id, rec);
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
    async revoke(id, at = new Date()) {
      const rec = byId.get(id);
      if (!rec) return undefined;
      if (rec.revokedAt === null) rec.revokedAt = at;
      return { ...rec };
    },
  };
}
