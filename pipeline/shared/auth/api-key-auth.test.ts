import { createApp, type HubApp } from '../http/create-app';
import { createLogger } from '../logging/logger';
import { canAccessTenant, generateApiKey, hashApiKey, isWellFormedApiKey, publicPrefix, tenantScope } from './api-key';
import { apiKeyAuth, createApiKeyVerifier, principalOf } from './api-key-auth';
import { registerApiKeyRoutes } from './api-key-routes';
import type { ApiKeyStore } from './api-key-store';
import { memoryApiKeyStore } from './api-key-store.memory';
import { ensureOperatorKey } from './bootstrap';

const silent = createLogger({ service: 'test', level: 'silent' });
const OPERATOR_KEY = 'ihk_operator-bootstrap-key-for-unit-tests-000000';

interface Counting extends ApiKeyStore {
  lookups: number;
}

function countingStore(): Counting {
  const inner = memoryApiKeyStore();
  const s = {
    ...inner,
    lookups: 0,
    async findByHash(hash: string) {
      s.lookups++;
      return inner.findByHash(hash);
    },
  };
  return s;
}

async function anApp(store: ApiKeyStore, rateLimit?: { max: number }): Promise<HubApp> {
  const app = await createApp({ name: 'auth-test', logger: silent });
  const verifier = createApiKeyVerifier(store, 60_000);
  await app.register(async (api) => {
    await api.register(apiKeyAuth, { store, verifier, rateLimit });
    api.get('/v1/whoami', async (req) => principalOf(req));
    registerApiKeyRoutes(api, { store, verifier });
  });
  await app.ready();
  return app;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('api keys', () => {
  it('generates ihk_ keys of 32 random bytes and hashes them', () => {
    const key = generateApiKey();
    expect(isWellFormedApiKey(key)).toBe(true);
    expect(Buffer.from(key.slice(4), 'base64url')).toHaveLength(32);
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(publicPrefix(key)).toBe(key.slice(0, 12));
  });

  it('scopes tenants', () => {
    const op = { keyId: 'k', role: 'OPERATOR' as const };
    const t = { keyId: 'k', role: 'TENANT' as const, tenantId: 'a' };
    expect(tenantScope(op)).toEqual({ ok: true, tenantId: undefined });
    expect(tenantScope(op, 'b')).toEqual({ ok: true, tenantId: 'b' });
    expect(tenantScope(t)).toEqual({ ok: true, tenantId: 'a' });
    expect(tenantScope(t, 'a')).toEqual({ ok: true, tenantId: 'a' });
    expect(tenantScope(t, 'b')).toMatchObject({ ok: false, status: 403 });
    expect(canAccessTenant(t, 'b')).toBe(false);
    expect(canAccessTenant(op, 'b')).toBe(true);
  });
});

describe('apiKeyAuth', () => {
  let store: Counting;
  let app: HubApp;
  beforeEach(async () => {
    store = countingStore();
    await ensureOperatorKey(store, OPERATOR_KEY);
    store.lookups = 0;
    app = await anApp(store);
  });
  afterEach(() => app.close());

  it('answers 401 problems for missing, malformed and unknown keys', async () => {
    for (const headers of [{}, { authorization: 'Basic abc' }, bearer('ihk_unknown'), { 'x-api-key': 'nope' }]) {
      const res = await app.inject({ method: 'GET', url: '/v1/whoami', headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('accepts the bootstrap operator key by bearer and by x-api-key', async () => {
    const a = await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(OPERATOR_KEY) });
    expect(a.json()).toMatchObject({ role: 'OPERATOR' });
    const b = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { 'x-api-key': OPERATOR_KEY } });
    expect(b.statusCode).toBe(200);
  });

  it('caches verified keys so the store is not asked per request', async () => {
    for (let i = 0; i < 5; i++) await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(OPERATOR_KEY) });
    expect(store.lookups).toBe(1);
  });

  it('creates a tenant key shown once, lists it without the key, and revokes it at once', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(OPERATOR_KEY),
      payload: { name: 'acme', role: 'TENANT', tenantId: 'acme' },
    });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json();
    expect(isWellFormedApiKey(key)).toBe(true);

    const who = await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(key) });
    expect(who.json()).toMatchObject({ role: 'TENANT', tenantId: 'acme', keyId: id });

    const list = await app.inject({ method: 'GET', url: '/v1/api-keys', headers: bearer(OPERATOR_KEY) });
    expect(list.body).not.toContain(key);
    expect(list.json().items.map((k: { id: string }) => k.id)).toContain(id);

    // tenant keys cannot manage keys
    const forbidden = await app.inject({ method: 'GET', url: '/v1/api-keys', headers: bearer(key) });
    expect(forbidden.statusCode).toBe(403);

    const del = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${id}`, headers: bearer(OPERATOR_KEY) });
    expect(del.statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(key) })).statusCode).toBe(401);
    const again = await app.inject({ method: 'DELETE', url: '/v1/api-keys/unknown', headers: bearer(OPERATOR_KEY) });
    expect(again.statusCode).toBe(404);
  });

  it('rejects inconsistent role/tenant combinations and unknown fields', async () => {
    const post = (payload: object) =>
      app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(OPERATOR_KEY), payload });
    expect((await post({ name: 'x', role: 'TENANT' })).json().errors[0].path).toBe('tenantId');
    expect((await post({ name: 'x', role: 'OPERATOR', tenantId: 'a' })).statusCode).toBe(400);
    expect((await post({ name: 'x', role: 'ADMIN' })).json().errors[0].path).toBe('role');
    expect((await post({ name: 'x', role: 'OPERATOR', scopes: [] })).json().errors[0]).toMatchObject({
      path: 'scopes',
      message: 'unknown field',
    });
  });
});

describe('per-key rate limit', () => {
  it('answers 429 with Retry-After once a key exceeds its budget, per key', async () => {
    const store = memoryApiKeyStore();
    await ensureOperatorKey(store, OPERATOR_KEY);
    const app = await anApp(store, { max: 3 });
    const created = await app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(OPERATOR_KEY),
      payload: { name: 't', role: 'TENANT', tenantId: 't' },
    });
    const tenantKey = created.json().key;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(OPERATOR_KEY) })).statusCode);
    expect(statuses).toEqual([200, 200, 429, 429]);
    const limited = await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(OPERATOR_KEY) });
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.json()).toMatchObject({ status: 429, title: 'Too many requests' });
    // another key has its own budget
    expect((await app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(tenantKey) })).statusCode).toBe(200);
    await app.close();
  });
});

describe('ensureOperatorKey', () => {
  it('creates the key once, hashed', async () => {
    const store = memoryApiKeyStore();
    expect((await ensureOperatorKey(store, OPERATOR_KEY)).created).toBe(true);
    expect((await ensureOperatorKey(store, OPERATOR_KEY)).created).toBe(false);
    const [rec] = await store.list();
    expect(rec).toMatchObject({ role: 'OPERATOR', hash: hashApiKey(OPERATOR_KEY) });
    expect(JSON.stringify(rec)).not.toContain(OPERATOR_KEY);
  });

  it('refuses a short key', async () => {
    await expect(ensureOperatorKey(memoryApiKeyStore(), 'short')).rejects.toThrow(/at least/);
  });
});
