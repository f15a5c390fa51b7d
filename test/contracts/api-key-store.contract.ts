/**
 * Contract every ApiKeyStore adapter honours (docs/ARCHITECTURE.md, habit 8): run against the in-memory fake (unit)
 * and the Prisma adapter (integration).
 */
import { generateApiKey, hashApiKey, publicPrefix } from '../../pipeline/shared/auth/api-key';
import type { ApiKeyStore, NewApiKey } from '../../pipeline/shared/auth/api-key-store';

function aNewKey(overrides: Partial<NewApiKey> = {}): NewApiKey & { key: string } {
  const key = generateApiKey();
  return {
    name: 'ci',
    role: 'TENANT',
    tenantId: 'tenant-a',
    prefix: publicPrefix(key),
    hash: hashApiKey(key),
    key,
    ...overrides,
  };
}

const newKey = (overrides: Partial<NewApiKey> = {}): NewApiKey => {
  const { key: _key, ...input } = aNewKey(overrides);
  return input;
};

export function apiKeyStoreContract(makeStore: () => Promise<ApiKeyStore>): void {
  let store: ApiKeyStore;
  beforeEach(async () => {
    store = await makeStore();
  });

  it('creates a key and finds it by hash and id', async () => {
    const { key, ...input } = aNewKey();
    const created = await store.create(input);
    expect(created).toMatchObject({
      name: 'ci',
      role: 'TENANT',
      tenantId: 'tenant-a',
      prefix: key.slice(0, 12),
      revokedAt: null,
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await store.findByHash(hashApiKey(key))).toEqual(created);
    expect(await store.findById(created.id)).toEqual(created);
  });

  it('answers undefined for unknown hashes and ids', async () => {
    expect(await store.findByHash(hashApiKey('nope'))).toBeUndefined();
    expect(await store.findById('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await store.revoke('00000000-0000-4000-8000-000000000000')).toBeUndefined();
  });

  it('refuses a duplicate hash', async () => {
    const { key: _k, ...input } = aNewKey();
    await store.create(input);
    await expect(store.create({ ...input, name: 'other' })).rejects.toThrow();
  });

  it('stores operator keys without a tenant', async () => {
    const { key: _k, ...input } = aNewKey({ role: 'OPERATOR', tenantId: null });
    expect(await store.create(input)).toMatchObject({ role: 'OPERATOR', tenantId: null });
  });

  it('lists keys oldest first, by tenant, hiding revoked ones unless asked', async () => {
    const a = await store.create(newKey({ name: 'a', tenantId: 't1' }));
    const b = await store.create(newKey({ name: 'b', tenantId: 't2' }));
    const c = await store.create(newKey({ name: 'c', tenantId: 't1' }));
    await store.revoke(c.id);
    expect((await store.list()).map((k) => k.name)).toEqual(['a', 'b']);
    expect((await store.list({ tenantId: 't1' })).map((k) => k.id)).toEqual([a.id]);
    expect((await store.list({ tenantId: 't1', includeRevoked: true })).map((k) => k.id)).toEqual([a.id, c.id]);
    expect(b.tenantId).toBe('t2');
  });

  it('revokes once: the first revocation time sticks', async () => {
    const k = await store.create(newKey());
    const first = new Date('2030-01-01T00:00:00Z');
    expect((await store.revoke(k.id, first))?.revokedAt).toEqual(first);
    expect((await store.revoke(k.id, new Date('2031-01-01T00:00:00Z')))?.revokedAt).toEqual(first);
    expect((await store.findByHash(k.hash))?.revokedAt).toEqual(first);
  });
}
