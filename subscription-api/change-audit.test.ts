import { changedFieldNames } from '../pipeline/shared/change-audit/change-audit';
import { CREATED_BASIC_SUBSCRIPTION_FIELDS } from '../test/fixtures/subscriptions';
import { eventTypeAuditEntry, eventTypeChange, subscriptionAuditEntry, subscriptionChange } from './change-audit';
import type { EventTypeRecord, SubscriptionRecord } from './ports';

const T0 = new Date('2026-12-01T00:00:00Z');

function aRecord(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id: 'sub-1',
    tenantId: 'acme',
    description: null,
    version: 1,
    status: 'ACTIVE',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' },
    endpointUrl: 'https://hooks.example.com/a',
    contentMode: 'BINARY',
    auth: { type: 'BASIC', username: 'hub', secret: 'sealed-password-1' },
    signing: { current: 'sealed-signing-1' },
    customHeaders: {},
    maxAttempts: null,
    retrySchedule: null,
    ordered: false,
    batch: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** The next version of `r` as the repository stores it: version and updatedAt always move. */
const next = (r: SubscriptionRecord, o: Partial<SubscriptionRecord>): SubscriptionRecord => ({
  ...r,
  version: r.version + 1,
  updatedAt: new Date(r.updatedAt.getTime() + 1000),
  ...o,
});

describe('subscriptionChange', () => {
  const before = aRecord();

  it('names the fields a new subscription has a value for (nested ones dotted), never their values', () => {
    const c = subscriptionChange(undefined, before);
    expect(c.action).toBe('subscription.created');
    expect(c.changedFields).toEqual(CREATED_BASIC_SUBSCRIPTION_FIELDS);
    expect(JSON.stringify(c)).not.toMatch(/sealed-|hooks\.example|identity/);
  });

  it('ACTIVE -> PAUSED is paused and PAUSED -> ACTIVE is resumed', () => {
    const paused = next(before, { status: 'PAUSED' });
    expect(subscriptionChange(before, paused)).toEqual({ action: 'subscription.paused', changedFields: ['status'] });
    expect(subscriptionChange(paused, next(paused, { status: 'ACTIVE' }))).toEqual({
      action: 'subscription.resumed',
      changedFields: ['status'],
    });
  });

  it('a new current signing secret is secret_rotated, naming the signing fields only', () => {
    const rotated = next(before, {
      signing: { current: 'sealed-signing-2', previous: 'sealed-signing-1', previousExpiresAt: T0.toISOString() },
    });
    expect(subscriptionChange(before, rotated)).toEqual({
      action: 'subscription.secret_rotated',
      changedFields: ['signing.current', 'signing.previous', 'signing.previousExpiresAt'],
    });
  });

  it('anything else is updated; version and updatedAt are not changes', () => {
    const patched = next(before, {
      description: 'orders',
      match: { ...before.match, eventType: 'user.deleted' },
      auth: { type: 'BASIC', username: 'hub', secret: 'sealed-password-2' },
      retrySchedule: [1000, 2000],
    });
    expect(subscriptionChange(before, patched)).toEqual({
      action: 'subscription.updated',
      changedFields: ['auth.secret', 'description', 'match.eventType', 'retrySchedule'],
    });
    expect(subscriptionChange(before, next(before, {}))).toEqual({
      action: 'subscription.updated',
      changedFields: [],
    });
  });

  it('an auth type change names every auth field that came or went', () => {
    const changed = next(before, { auth: { type: 'APIKEY', headerName: 'x-key', secret: 'sealed-key' } });
    expect(subscriptionChange(before, changed).changedFields).toEqual([
      'auth.headerName',
      'auth.secret',
      'auth.type',
      'auth.username',
    ]);
  });

  it('a delete is deleted with no fields; the entry carries the tenant, id and last version', () => {
    expect(subscriptionChange(before, undefined)).toEqual({ action: 'subscription.deleted', changedFields: [] });
    const actor = { keyId: 'key-1', name: 'ops', requestId: 'req-1' };
    expect(subscriptionAuditEntry(next(before, { version: 4 }), undefined, actor)).toEqual({
      tenantId: 'acme',
      actor,
      action: 'subscription.deleted',
      resourceType: 'subscription',
      resourceId: 'sub-1',
      version: 4,
      changedFields: [],
    });
  });

  it('an entry without an actor is made by system', () => {
    expect(subscriptionAuditEntry(undefined, before).actor).toEqual({ keyId: 'system', name: null, requestId: null });
  });
});

describe('eventTypeChange', () => {
  const et: EventTypeRecord = {
    id: 'et-1',
    name: 'user.created',
    description: null,
    domain: 'user-lifecycle',
    schemaRef: null,
    deprecated: false,
    createdAt: T0,
    updatedAt: T0,
  };

  it('created, updated (updatedAt is not a change) and deleted; the catalogue is global', () => {
    expect(eventTypeChange(undefined, et)).toEqual({
      action: 'event_type.created',
      changedFields: ['deprecated', 'domain', 'name'],
    });
    expect(eventTypeChange(et, { ...et, deprecated: true, description: 'old', updatedAt: new Date() })).toEqual({
      action: 'event_type.updated',
      changedFields: ['deprecated', 'description'],
    });
    const deleted = eventTypeAuditEntry(et, undefined);
    expect(deleted).toMatchObject({ tenantId: null, action: 'event_type.deleted', resourceId: 'et-1', version: null });
  });
});

describe('changedFieldNames', () => {
  it('treats null and a missing field alike and compares arrays and objects by value', () => {
    expect(changedFieldNames({ a: null, b: [1, 2], c: { x: 1 } }, { b: [1, 2], c: { x: 1 } })).toEqual([]);
    expect(changedFieldNames({ b: [1, 2] }, { b: [2, 1] })).toEqual(['b']);
    expect(changedFieldNames({ c: { x: 1 } }, { c: { x: 2 } }, { nested: ['c'] })).toEqual(['c.x']);
  });
});
