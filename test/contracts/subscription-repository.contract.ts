/**
 * Contract every SubscriptionRepository adapter honours (docs/ARCHITECTURE.md, habit 8): run against the in-memory
 * fake (unit, `subscription-api/repositories.memory.test.ts`) and the Prisma adapter (integration,
 * `test/subscription-api/subscription-repository.prisma.int.test.ts`).
 *
 * Besides the rows, each write leaves its changelog record (the snapshot, or null for a tombstone) and its
 * change-audit entry; a write that is refused (a guard or a mutation that throws, a duplicate id) leaves neither.
 */
import type { ChangeActor, ChangeAuditEntry } from '../../pipeline/shared/change-audit/change-audit';
import { uuidv7 } from '../../pipeline/shared/ids';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DuplicateError, type SubscriptionRecord, type SubscriptionRepository } from '../../subscription-api/ports';
import { aSnapshot } from '../fixtures/subscriptions';

/** A repository under test and what it wrote beside the rows, in write order. */
export interface SubscriptionRepositoryUnderTest {
  repo: SubscriptionRepository;
  changes(): Promise<{ subscriptionId: string; snapshot: SubscriptionSnapshot | null }[]>;
  audits(): Promise<ChangeAuditEntry[]>;
}

// In the past, so an update's updatedAt (now) is later than the record's.
let clock = Date.parse('2024-01-01T00:00:00Z');

function aRecord(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  // Time-ordered ids, a millisecond apart, so list order is creation order.
  clock += 1;
  const at = new Date(clock);
  const { updatedAt: _u, ...snapshot } = aSnapshot({
    id: uuidv7(clock),
    signing: { current: 'sealed-current' },
    customHeaders: { 'x-team': 'blue' },
  });
  return {
    ...snapshot,
    description: 'contract',
    maxAttempts: null,
    retrySchedule: null,
    batch: null,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

const ACTOR: ChangeActor = { keyId: 'key-1', name: 'acme', requestId: 'req-1' };

export function subscriptionRepositoryContract(make: () => Promise<SubscriptionRepositoryUnderTest>): void {
  let t: SubscriptionRepositoryUnderTest;
  beforeEach(async () => {
    t = await make();
  });
  /** `r` is stored as inserted, and the insert is the only write on the changelog and in the audit. */
  const onlyTheInsert = async (r: SubscriptionRecord) => {
    expect(await t.repo.get(r.id)).toEqual(r);
    expect(await t.changes()).toHaveLength(1);
    expect(await t.audits()).toHaveLength(1);
  };

  it('inserts a subscription and reads it back as written', async () => {
    const r = aRecord({ retrySchedule: [1_000, 60_000], maxAttempts: 4, ordered: true });
    await t.repo.insert(r, ACTOR);
    expect(await t.repo.get(r.id)).toEqual(r);
    const batched = aRecord({ batch: { maxEvents: 50, maxWaitMs: 200 } });
    await t.repo.insert(batched, ACTOR);
    expect(await t.repo.get(batched.id)).toEqual(batched);
  });

  it('answers undefined for an unknown or malformed id, on every read and write', async () => {
    const unknown = uuidv7();
    for (const id of [unknown, 'not-a-uuid']) {
      expect(await t.repo.get(id)).toBeUndefined();
      expect(await t.repo.update(id, (c) => ({ ...c, description: 'x' }))).toBeUndefined();
      expect(await t.repo.delete(id, () => {})).toBeUndefined();
    }
    expect(await t.changes()).toEqual([]);
    expect(await t.audits()).toEqual([]);
  });

  it('refuses a duplicate id with a DuplicateError, writing nothing more', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    await expect(t.repo.insert({ ...r, description: 'again' })).rejects.toBeInstanceOf(DuplicateError);
    await onlyTheInsert(r);
  });

  it('updates: bumps the version, sets updatedAt, keeps id and createdAt', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    const saved = await t.repo.update(r.id, (c) => ({ ...c, endpointUrl: 'https://example.test/v2', version: 99 }));
    expect(saved).toMatchObject({
      id: r.id,
      version: 2,
      endpointUrl: 'https://example.test/v2',
      createdAt: r.createdAt,
    });
    expect(saved!.updatedAt.getTime()).toBeGreaterThan(r.updatedAt.getTime());
    expect(await t.repo.get(r.id)).toEqual(saved);
  });

  it('writes nothing when the mutation returns the current record unchanged', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    expect(await t.repo.update(r.id, (c) => c)).toEqual(r);
    await onlyTheInsert(r);
  });

  it('aborts an update whose mutation throws, and a delete whose guard throws, writing nothing', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    const refused = new Error('refused by the use case');
    await expect(
      t.repo.update(r.id, () => {
        throw refused;
      }),
    ).rejects.toBe(refused);
    await expect(
      t.repo.delete(r.id, () => {
        throw refused;
      }),
    ).rejects.toBe(refused);
    await onlyTheInsert(r);
  });

  it('deletes, returning the row as it was; a second delete finds nothing', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    expect(await t.repo.delete(r.id, () => {})).toEqual(r);
    expect(await t.repo.get(r.id)).toBeUndefined();
    expect(await t.repo.delete(r.id, () => {})).toBeUndefined();
  });

  it('records every write on the changelog in order: the snapshot, then a tombstone on delete', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    const paused = await t.repo.update(r.id, (c) => ({ ...c, status: 'PAUSED' }));
    await t.repo.delete(r.id, () => {});
    const changes = await t.changes();
    expect(changes.map((c) => c.subscriptionId)).toEqual([r.id, r.id, r.id]);
    expect(changes[0]!.snapshot).toMatchObject({ id: r.id, tenantId: 'tenant-a', version: 1, status: 'ACTIVE' });
    expect(changes[1]!.snapshot).toMatchObject({
      id: r.id,
      version: 2,
      status: 'PAUSED',
      updatedAt: paused!.updatedAt.toISOString(),
    });
    expect(changes[2]!.snapshot).toBeNull();
  });

  it('audits every write with its action, actor, version and changed field names (never values)', async () => {
    const r = aRecord();
    await t.repo.insert(r, ACTOR);
    await t.repo.update(r.id, (c) => ({ ...c, status: 'PAUSED' }), ACTOR);
    await t.repo.update(r.id, (c) => ({ ...c, signing: { current: 'sealed-next', previous: c.signing.current } }));
    await t.repo.update(r.id, (c) => ({ ...c, match: { ...c.match, eventType: 'user.deleted' } }), ACTOR);
    await t.repo.delete(r.id, () => {}, ACTOR);
    const audits = await t.audits();
    expect(audits.map((a) => [a.action, a.version, a.actor.keyId])).toEqual([
      ['subscription.created', 1, 'key-1'],
      ['subscription.paused', 2, 'key-1'],
      ['subscription.secret_rotated', 3, 'system'],
      ['subscription.updated', 4, 'key-1'],
      ['subscription.deleted', 4, 'key-1'],
    ]);
    expect(audits.every((a) => a.tenantId === 'tenant-a' && a.resourceType === 'subscription')).toBe(true);
    expect(audits.every((a) => a.resourceId === r.id)).toBe(true);
    expect(audits[0]!.actor).toEqual(ACTOR);
    expect(audits[1]!.changedFields).toEqual(['status']);
    expect(audits[2]!.changedFields).toEqual(['signing.current', 'signing.previous']);
    expect(audits[3]!.changedFields).toEqual(['match.eventType']);
    expect(audits[4]!.changedFields).toEqual([]);
    expect(JSON.stringify(audits)).not.toContain('sealed-');
  });

  it('lists one page ordered by id, strictly after the cursor, filtered by tenant, status and match', async () => {
    const a = aRecord({ tenantId: 't1' });
    const b = aRecord({ tenantId: 't2', status: 'PAUSED' });
    const c = aRecord({
      tenantId: 't1',
      match: { sourceService: 'billing', eventType: 'invoice.paid', resourceType: 'invoice', operationType: 'UPDATE' },
    });
    const d = aRecord({ tenantId: 't1' });
    // Inserted out of order: the list orders by id all the same.
    for (const r of [d, b, a, c]) await t.repo.insert(r);
    const ids = async (f: Parameters<SubscriptionRepository['list']>[0], limit = 10, afterId?: string) =>
      (await t.repo.list(f, { limit, afterId })).map((r) => r.id);
    expect(await ids({})).toEqual([a.id, b.id, c.id, d.id]);
    expect(await ids({}, 2)).toEqual([a.id, b.id]);
    expect(await ids({}, 2, b.id)).toEqual([c.id, d.id]);
    expect(await ids({}, 10, d.id)).toEqual([]);
    expect(await ids({ tenantId: 't1' })).toEqual([a.id, c.id, d.id]);
    expect(await ids({ tenantId: 't1' }, 1, a.id)).toEqual([c.id]);
    expect(await ids({ status: 'PAUSED' })).toEqual([b.id]);
    expect(await ids({ sourceService: 'billing' })).toEqual([c.id]);
    expect(await ids({ eventType: 'invoice.paid', resourceType: 'invoice', operationType: 'UPDATE' })).toEqual([c.id]);
    expect(await ids({ tenantId: 't2', eventType: 'invoice.paid' })).toEqual([]);
    expect(await t.repo.list({ tenantId: 't2' }, { limit: 10 })).toEqual([b]);
  });

  it('hands out copies: changing a record read or written does not change the stored one', async () => {
    const r = aRecord();
    await t.repo.insert(r);
    r.customHeaders['x-team'] = 'red';
    const read = (await t.repo.get(r.id))!;
    expect(read.customHeaders).toEqual({ 'x-team': 'blue' });
    read.match.eventType = 'changed';
    expect((await t.repo.get(r.id))!.match.eventType).toBe('user.created');
  });
}
