/**
 * The change audit end to end on real Postgres: changes made through the subscription-api's REST routes
 * (subscriptions, event types, API keys) are read back through the dlt-processor's operator API (`GET /v1/audit`)
 * sharing the database: exactly those entries, newest first, with their actions, actors and changed field names,
 * no secret anywhere, nothing for a change that failed, and tenant keys confined to their tenant.
 */
import { randomUUID } from 'node:crypto';
import { type DltHarness, startDltHarness } from '../dlt-processor/harness';
import { CREATED_BASIC_SUBSCRIPTION_FIELDS } from '../fixtures/subscriptions';
import { aSubscription, type Harness, OPERATOR_KEY, startHarness } from './harness';

jest.setTimeout(90_000);

interface Entry {
  id: string;
  at: string;
  tenantId: string | null;
  actor: { keyId: string; name: string | null };
  action: string;
  resourceType: string;
  resourceId: string;
  version: number | null;
  changedFields: string[];
  requestId: string | null;
}

describe('change audit (subscription-api changes, read on the operator API)', () => {
  let h: Harness;
  let dlt: DltHarness;
  const tenant = `acme-${randomUUID().slice(0, 6)}`;
  /** Every secret the scenario hands to or gets from the APIs. */
  const secrets: string[] = [OPERATOR_KEY];
  let operatorKeyId: string;
  let tenantKey: string;
  let tenantKeyId: string;
  let subId: string;
  let eventTypeId: string;
  /** What the audit must hold for the changes below, oldest first (after the two bootstrap keys). */
  const expected: Omit<Entry, 'id' | 'at'>[] = [];

  const audit = async (query = '', key = dlt.operatorKey) => {
    const res = await dlt.app.inject({ url: `/v1/audit${query}`, headers: { authorization: `Bearer ${key}` } });
    return res;
  };
  const auditItems = async (query = '', key?: string): Promise<Entry[]> => {
    const res = await audit(query, key);
    expect(res.statusCode).toBe(200);
    return res.json().items;
  };

  beforeAll(async () => {
    h = await startHarness({ relay: false });
    dlt = await startDltHarness({ db: h.db, scheduler: false });
    secrets.push(dlt.operatorKey);
    const keys = (await h.op.get('/v1/api-keys')).json().items as { id: string; name: string }[];
    operatorKeyId = keys.find((k) => k.name === 'bootstrap-operator')!.id;
    const op = { keyId: operatorKeyId, name: 'bootstrap-operator' };

    // API key: created by the operator.
    const created = await h.op.post('/v1/api-keys', { name: 'acme ci', role: 'TENANT', tenantId: tenant });
    expect(created.statusCode).toBe(201);
    tenantKey = created.json().key;
    tenantKeyId = created.json().id;
    secrets.push(tenantKey);
    expected.push({
      tenantId: tenant,
      actor: op,
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: tenantKeyId,
      version: null,
      changedFields: ['name', 'role', 'tenantId'],
      requestId: expect.any(String),
    });
    const acme = h.as(tenantKey);
    const me = { keyId: tenantKeyId, name: 'acme ci' };
    const sub = (action: string, version: number, changedFields: string[], requestId: string = expect.any(String)) =>
      expected.push({
        tenantId: tenant,
        actor: me,
        action: `subscription.${action}`,
        resourceType: 'subscription',
        resourceId: subId,
        version,
        changedFields,
        requestId,
      });

    // Subscription: create, patch, pause, resume, rotate, delete — by the tenant's key.
    const password = `pw-${randomUUID()}`;
    const res = await acme.post(
      '/v1/subscriptions',
      aSubscription({ tenantId: tenant, auth: { type: 'BASIC', username: 'hub', password } }),
    );
    expect(res.statusCode).toBe(201);
    subId = res.json().id;
    secrets.push(password, res.json().signingSecret);
    sub('created', 1, CREATED_BASIC_SUBSCRIPTION_FIELDS);
    const password2 = `pw-${randomUUID()}`;
    secrets.push(password2);
    expect(
      (
        await acme.patch(`/v1/subscriptions/${subId}`, {
          description: 'orders',
          auth: { type: 'BASIC', username: 'hub', password: password2 },
        })
      ).statusCode,
    ).toBe(200);
    sub('updated', 2, ['auth.secret', 'description']);
    const paused = await h.app.inject({
      method: 'POST',
      url: `/v1/subscriptions/${subId}/pause`,
      headers: { authorization: `Bearer ${tenantKey}`, 'x-request-id': 'req-pause-1' },
    });
    expect(paused.statusCode).toBe(200);
    sub('paused', 3, ['status'], 'req-pause-1');
    // Pausing a paused subscription changes nothing: no entry.
    expect((await acme.post(`/v1/subscriptions/${subId}/pause`)).statusCode).toBe(200);
    expect((await acme.post(`/v1/subscriptions/${subId}/resume`)).statusCode).toBe(200);
    sub('resumed', 4, ['status']);
    const rotated = await acme.post(`/v1/subscriptions/${subId}/rotate-secret`);
    expect(rotated.statusCode).toBe(200);
    secrets.push(rotated.json().signingSecret);
    sub('secret_rotated', 5, ['signing.current', 'signing.previous', 'signing.previousExpiresAt']);

    // Failed changes: none of them may leave an entry.
    expect((await acme.patch(`/v1/subscriptions/${subId}`, { maxAttempts: -1 })).statusCode).toBe(400);
    expect(
      (await acme.patch(`/v1/subscriptions/${subId}`, { endpointUrl: 'https://internal.example.com/x' })).statusCode,
    ).toBe(400);
    expect((await acme.post(`/v1/subscriptions/${randomUUID()}/pause`)).statusCode).toBe(404);
    const other = h.as(await h.tenantKey(`other-${randomUUID().slice(0, 6)}`));
    expected.push({
      tenantId: expect.stringMatching(/^other-/),
      actor: op,
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: expect.any(String),
      version: null,
      changedFields: ['name', 'role', 'tenantId'],
      requestId: expect.any(String),
    });
    expect((await other.del(`/v1/subscriptions/${subId}`)).statusCode).toBe(404);
    expect((await other.post(`/v1/subscriptions/${subId}/rotate-secret`)).statusCode).toBe(404);

    expect((await acme.del(`/v1/subscriptions/${subId}`)).statusCode).toBe(204);
    sub('deleted', 5, []);
    expect((await acme.del(`/v1/subscriptions/${subId}`)).statusCode).toBe(404);

    // Event types: the global catalogue, by the operator.
    const etName = `audit.${randomUUID().slice(0, 6)}`;
    const et = await h.op.post('/v1/event-types', { name: etName, domain: 'access' });
    expect(et.statusCode).toBe(201);
    eventTypeId = et.json().id;
    const etEntry = (action: string, changedFields: string[]) =>
      expected.push({
        tenantId: null,
        actor: op,
        action: `event_type.${action}`,
        resourceType: 'event_type',
        resourceId: eventTypeId,
        version: null,
        changedFields,
        requestId: expect.any(String),
      });
    etEntry('created', ['deprecated', 'domain', 'name']);
    expect((await h.op.post('/v1/event-types', { name: etName, domain: 'access' })).statusCode).toBe(409);
    expect((await acme.post('/v1/event-types', { name: `${etName}.t`, domain: 'access' })).statusCode).toBe(403);
    expect((await h.op.patch(`/v1/event-types/${etName}`, { description: 'who may act' })).statusCode).toBe(200);
    etEntry('updated', ['description']);
    expect((await h.op.patch('/v1/event-types/no.such.type', { description: 'x' })).statusCode).toBe(404);
    expect((await h.op.del(`/v1/event-types/${etName}`)).statusCode).toBe(204);
    etEntry('deleted', []);
    expect((await h.op.del(`/v1/event-types/${etName}`)).statusCode).toBe(404);

    // API key: revoked by the operator; revoking it again changes nothing.
    expect((await h.op.del(`/v1/api-keys/${tenantKeyId}`)).statusCode).toBe(204);
    expected.push({
      tenantId: tenant,
      actor: op,
      action: 'api_key.revoked',
      resourceType: 'api_key',
      resourceId: tenantKeyId,
      version: null,
      changedFields: ['revokedAt'],
      requestId: expect.any(String),
    });
    expect((await h.op.del(`/v1/api-keys/${tenantKeyId}`)).statusCode).toBe(204);
    expect((await h.op.del(`/v1/api-keys/${randomUUID()}`)).statusCode).toBe(404);
  });

  afterAll(async () => {
    await dlt?.stop();
    await h?.close();
  });

  it('lists exactly the changes made, newest first, with actions, actors and changed field names', async () => {
    const items = await auditItems('?limit=500');
    const bootstrap = {
      tenantId: null,
      actor: { keyId: 'bootstrap', name: 'bootstrap' },
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: expect.any(String),
      version: null,
      changedFields: ['name', 'role'],
      requestId: null,
    };
    // The two harnesses each ensured their bootstrap operator key at start.
    expect(items).toEqual(
      [...expected]
        .reverse()
        .concat([bootstrap, bootstrap])
        .map((e) => expect.objectContaining(e)),
    );
    expect(items.map((e) => BigInt(e.id))).toEqual(items.map((e) => BigInt(e.id)).sort((a, b) => (a > b ? -1 : 1)));
    expect(items.at(-1)!.resourceId).toBe(operatorKeyId);
  });

  it('never shows a secret: no password, signing secret or API key in the answer nor in the table', async () => {
    const body = (await audit('?limit=500')).body;
    const rows = JSON.stringify(
      await h.db.prisma.$queryRawUnsafe<unknown[]>('SELECT row_to_json(a)::text AS r FROM "ChangeAudit" a'),
    );
    expect(secrets.length).toBe(7);
    for (const s of secrets) {
      expect(body).not.toContain(s);
      expect(rows).not.toContain(s);
    }
  });

  it('filters by resource, action, tenant and time, and pages with a cursor', async () => {
    const history = await auditItems(`?resourceType=subscription&resourceId=${subId}`);
    expect(history.map((e) => e.action)).toEqual([
      'subscription.deleted',
      'subscription.secret_rotated',
      'subscription.resumed',
      'subscription.paused',
      'subscription.updated',
      'subscription.created',
    ]);
    expect((await auditItems('?action=subscription.paused')).map((e) => e.requestId)).toEqual(['req-pause-1']);
    expect((await auditItems(`?resourceType=event_type&resourceId=${eventTypeId}`)).length).toBe(3);
    expect((await auditItems(`?tenantId=${tenant}`)).length).toBe(8);

    const all = await auditItems('?limit=500');
    const walked: Entry[] = [];
    let cursor: string | null = null;
    do {
      const res = await audit(`?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      walked.push(...res.json().items);
      cursor = res.json().nextCursor;
    } while (cursor);
    expect(walked).toEqual(all);

    const first = all.at(-1)!.at;
    expect(await auditItems(`?to=${encodeURIComponent(first)}`)).toEqual([]);
    expect((await auditItems(`?from=${encodeURIComponent(first)}`)).length).toBe(all.length);
  });

  it('a tenant key sees its own tenant only; another tenant is 403; bad input is a problem', async () => {
    const key = await dlt.tenantKey(tenant);
    const own = await auditItems('', key);
    expect(own.length).toBe(8);
    expect(own.every((e) => e.tenantId === tenant)).toBe(true);
    expect(await auditItems(`?resourceType=event_type&resourceId=${eventTypeId}`, key)).toEqual([]);
    const forbidden = await audit('?tenantId=other', key);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers['content-type']).toMatch(/^application\/problem\+json/);
    for (const q of [
      '?cursor=nope',
      '?action=subscription.exploded',
      '?limit=0',
      '?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z',
      '?bogus=1',
    ]) {
      const res = await audit(q);
      expect([q, res.statusCode]).toEqual([q, 400]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await dlt.app.inject({ url: '/v1/audit' })).statusCode).toBe(401);
  });
});
