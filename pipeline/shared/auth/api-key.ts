/**
 * API keys and principals (pure).
 *
 * A key is `ihk_<base64url of 32 random bytes>`; it is shown once at creation. The store keeps only its SHA-256
 * (hex) and a short public prefix (`ihk_` + 8 chars) so operators can tell keys apart in listings.
 * Keys are operator keys (all tenants) or tenant keys (one tenant).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_PREFIX = 'ihk_';
const KEY_PATTERN = /^ihk_[A-Za-z0-9_-]{43}$/;
export const PUBLIC_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

export type Role = 'OPERATOR' | 'TENANT';
export const ROLES = ['OPERATOR', 'TENANT'] as const;

export interface Principal {
  keyId: string;
  role: Role;
  /** Set for tenant keys only. */
  tenantId?: string;
  name?: string;
}

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function isWellFormedApiKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function publicPrefix(key: string): string {
  return key.slice(0, PUBLIC_PREFIX_LENGTH);
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export type TenantScope =
  | { ok: true /** undefined = every tenant (operator without a filter) */; tenantId: string | undefined }
  | { ok: false; status: 403; detail: string };

/**
 * Which tenant a request acts on.
 * - Operator keys act on `requestedTenant` (undefined = all tenants).
 * - Tenant keys act on their own tenant; naming another tenant explicitly is a 403 (it is the caller's own
 *   input, not a probe for someone else's resource).
 */
export function tenantScope(principal: Principal, requestedTenant?: string): TenantScope {
  if (principal.role === 'OPERATOR') return { ok: true, tenantId: requestedTenant };
  if (requestedTenant !== undefined && requestedTenant !== principal.tenantId) {
    return { ok: false, status: 403, detail: `this API key may only act on tenant "${principal.tenantId}"` };
  }
  return { ok: true, tenantId: principal.tenantId };
}

/**
 * May this principal see a resource of `tenantId`? When not, answer 404 (never 403): another tenant's ids must
 * be indistinguishable from ids that do not exist.
 */
export function canAccessTenant(principal: Principal, tenantId: string): boolean {
  return principal.role === 'OPERATOR' || principal.tenantId === tenantId;
}

/**
 * The presented key from `Authorization: Bearer <key>` or `x-api-key: <key>` (HTTP headers or gRPC metadata).
 * A malformed Authorization header presents no key (the caller answers 401 / UNAUTHENTICATED).
 */
export function keyFromHeaders(authorization: unknown, xApiKey: unknown): string | undefined {
  if (typeof authorization === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return m ? m[1] : undefined;
  }
  return typeof xApiKey === 'string' && xApiKey.length > 0 ? xApiKey.trim() : undefined;
}
