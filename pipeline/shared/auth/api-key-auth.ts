/**
 * fastify plugin: API-key authentication, tenancy and per-key rate limiting for every route registered after it
 * in the same scope.
 *
 *   app.register(async (api) => {
 *     await api.register(apiKeyAuth, { store, cacheTtlMs: 30_000, rateLimit: { max: 600 } });
 *     api.get('/v1/things', async (req) => list(tenantScope(principalOf(req), req.query.tenantId)));
 *   });
 *
 * `Authorization: Bearer <key>` (or `x-api-key: <key>`) -> SHA-256 -> cache -> store. Missing/unknown/revoked
 * keys get a 401 problem. `request.principal` is set for the handlers. The cache keeps the hot path off the DB;
 * revocations through this process take effect at once, revocations elsewhere within `cacheTtlMs`.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden, tooManyRequests, unauthorized } from '../http/problem';
import { hashApiKey, keyFromHeaders, type Principal, type Role } from './api-key';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface ApiKeyVerifier {
  /** The principal for a presented key, or undefined when unknown or revoked. */
  verify(presented: string): Promise<Principal | undefined>;
  /** Drops cached entries of a key (after revoke). */
  forget(keyId: string): void;
}

interface CacheEntry {
  principal: Principal | undefined;
  expiresAt: number;
}

const MAX_CACHE_ENTRIES = 10_000;

export function toPrincipal(rec: ApiKeyRecord): Principal {
  return {
    keyId: rec.id,
    role: rec.role,
    name: rec.name,
    ...(rec.role === 'TENANT' && rec.tenantId ? { tenantId: rec.tenantId } : {}),
  };
}

export function createApiKeyVerifier(
  store: ApiKeyStore,
  cacheTtlMs = 30_000,
  now: () => number = Date.now,
): ApiKeyVerifier {
  const cache = new Map<string, CacheEntry>();
  // Unknown keys are cached briefly too, so a client hammering with a bad key does not hammer the DB.
  const negativeTtl = Math.min(cacheTtlMs, 5_000);
  return {
    async verify(presented) {
      const hash = hashApiKey(presented);
      const hit = cache.get(hash);
      if (hit && hit.expiresAt > now()) return hit.principal;
      const rec = await store.findByHash(hash);
      const principal = rec && rec.revokedAt === null ? toPrincipal(rec) : undefined;
      if (cache.size >= MAX_CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
      cache.set(hash, { principal, expiresAt: now() + (principal ? cacheTtlMs : negativeTtl) });
      return principal;
    },
    forget(keyId) {
      for (const [hash, entry] of cache) if (entry.principal?.keyId === keyId) cache.delete(hash);
    },
  };
}

export interface ApiKeyAuthOptions {
  store: ApiKeyStore;
  /** How long a verified key is trusted without asking the store again. Default 30 s. */
  cacheTtlMs?: number;
  /** Share one verifier (and its cache) with the API-key routes so revocations apply at once. */
  verifier?: ApiKeyVerifier;
  /** Per-key rate limit (429 + Retry-After). Omit to disable. */
  rateLimit?: { max: number; timeWindowMs?: number };
}

/** Reads the presented key from `Authorization: Bearer` or `x-api-key`. */
export function presentedKey(req: FastifyRequest): string | undefined {
  return keyFromHeaders(req.headers.authorization, req.headers['x-api-key']);
}

async function apiKeyAuthPlugin(scope: FastifyInstance, opts: ApiKeyAuthOptions): Promise<void> {
  const verifier = opts.verifier ?? createApiKeyVerifier(opts.store, opts.cacheTtlMs);
  if (!scope.hasRequestDecorator('principal')) scope.decorateRequest('principal', undefined);

  scope.addHook('onRequest', async (req) => {
    const key = presentedKey(req);
    if (!key) {
      throw unauthorized(
        req.headers.authorization
          ? 'Use "Authorization: Bearer <api key>"'
          : 'An API key is required (Authorization: Bearer <key>)',
      );
    }
    if (key.length > 512) throw unauthorized('Invalid API key');
    const principal = await verifier.verify(key);
    if (!principal) throw unauthorized('Invalid or revoked API key');
    req.principal = principal;
    req.log = req.log.child({
      keyId: principal.keyId,
      ...(principal.tenantId ? { keyTenant: principal.tenantId } : {}),
    });
  });

  if (opts.rateLimit) {
    await scope.register(rateLimit, {
      global: true,
      max: opts.rateLimit.max,
      timeWindow: opts.rateLimit.timeWindowMs ?? 60_000,
      // After authentication (onRequest), before the body is read.
      hook: 'preParsing',
      keyGenerator: (req) => (req.principal ? `key:${req.principal.keyId}` : `ip:${req.ip}`),
      errorResponseBuilder: (_req, ctx) => tooManyRequests(Math.max(1, Math.ceil(ctx.ttl / 1000))),
    });
  }
}

export const apiKeyAuth = fp(apiKeyAuthPlugin, { name: 'hub-api-key-auth', fastify: '5.x' });

/** The authenticated principal (routes behind apiKeyAuth always have one). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}

/** preHandler: only keys of this role may call the route. */
export function requireRole(role: Role) {
  return async (req: FastifyRequest) => {
    const p = principalOf(req);
    if (p.role !== role) throw forbidden(`this operation requires an ${role.toLowerCase()} API key`);
  };
}
