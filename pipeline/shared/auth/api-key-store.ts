/**
 * Port: where API keys live. Only hashes are stored; the plaintext key exists once, in the creation response.
 * Adapters: `api-key-store.prisma.ts` (Postgres), `api-key-store.memory.ts` (tests). One contract test runs
 * against both (`api-key-store.contract.ts`). Creating and revoking a key records its change-audit entry
 * (`apiKeyAuditEntry`, made by `actor`; `SYSTEM_ACTOR` when none is given) in the same transaction.
 */
import type { ChangeActor } from '../change-audit/change-audit';
import type { Role } from './api-key';

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  /** Set for TENANT keys, null for OPERATOR keys. */
  tenantId: string | null;
  /** `ihk_` + 8 characters of the key, for telling keys apart. */
  prefix: string;
  /** SHA-256 hex of the full key. */
  hash: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface NewApiKey {
  name: string;
  role: Role;
  tenantId: string | null;
  prefix: string;
  hash: string;
}

export interface ApiKeyStore {
  /** The key with this hash, revoked or not (callers check `revokedAt`). */
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Creates a key; a duplicate hash is an error (and nothing is audited). */
  create(input: NewApiKey, actor?: ChangeActor): Promise<ApiKeyRecord>;
  /** Keys ordered by creation time (oldest first), optionally one tenant's only. */
  list(filter?: { tenantId?: string; includeRevoked?: boolean }): Promise<ApiKeyRecord[]>;
  findById(id: string): Promise<ApiKeyRecord | undefined>;
  /**
   * Marks the key revoked; returns the updated record, or undefined when no such key exists. Revoking a revoked key
   * changes nothing (and audits nothing).
   */
  revoke(id: string, at?: Date, actor?: ChangeActor): Promise<ApiKeyRecord | undefined>;
}
