/**
 * Route-level unit tests over the in-memory repositories (the integration tests repeat the important ones on
 * Postgres + Kafka).
 */
import { memoryApiKeyStore } from '../pipeline/shared/auth/api-key-store.memory';
import { ensureOperatorKey } from '../pipeline/shared/auth/bootstrap';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../pipeline/shared/crypto/secret-box';
import type { HubApp } from '../pipeline/shared/http/create-app';
import { createLogger } from '../pipeline/shared/logging/logger';
import { buildSubscriptionApi } from './app';
import {
  memoryDeliveryStatusReader,
  memoryEventTypeRepository,
  memorySubscriptionRepository,
} from './repositories.memory';
import { createSubscriptionService } from './service';

const OPERATOR = 'ihk_unit-test-operator-key-0000000000000000000';
const box = new SecretBox(parseHubKeys(generateHubKeySpec()));

async function setup() {
  const apiKeys = memoryApiKeyStore();
  await ensureOperatorKey(apiKeys, OPERATOR);
  const subscriptions = memorySubscriptionRepository();
  const deliveryStatus = memoryDeliveryStatusReader();
  const service = createSubscriptionService({
    subscriptions,
    eventTypes: memoryEventTypeRepository(),
    deliveryStatus,
    box,
    endpointPolicy: { allowHosts: ['127.0.0.1'], requireHttps: true },
    rotationOverlapMs: 24 * 3600_000,
  });
  const app = await buildSubscriptionApi({
    logger: createLogger({ service: 'test', level: 'silent' }),
    apiKeys,
    service,
    bodyLimitBytes: 16 * 1024,
  });
  const as = (key: string) => ({
    post: (url: string, payload?: object) =>
      app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) }),
    patch: (url: string, payload: object) =>
      app.inject({ method: 'PATCH', url, headers: { authorization: `Bearer ${key}` }, payload }),
    get: (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } }),
    del: (url: string) => app.inject({ method: 'DELETE', url, headers: { authorization: `Bearer ${key}` } }),
  });
  const op = as(OPERATOR);
  const tenantKey = async (tenantId: string) =>
    (await op.post('/v1/api-keys', { name: tenantId, role: 'TENANT', tenantId })).json().key as string;
  return { app, op, as, tenantKey, subscriptions, deliveryStatus };
}

const aSubscription = (overrides: object = {}) => ({
  tenantId: 'acme',
  match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' },
  endpointUrl: 'https://93.184.216.34/hooks',
  auth: { type: 'BASIC', username: 'hub', password: 'p@ss-w0rd-secret' },
  ...overrides,
});

describe('subscription-api routes (memory)', () => {
  let ctx: Awaited<ReturnType<typeof setup>>;
  let app: HubApp;
  beforeEach(async () => {
    ctx = await setup();
    app = ctx.app;
  });
  afterEach(() => app.close());

  it('creates a subscription, returns the signing secret once and never the auth secret', async () => {
    const res = await ctx.op.post('/v1/subscriptions', aSubscription());
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(body.signingSecret.slice(6), 'base64')).toHaveLength(32);
    expect(body.auth).toEqual({ type: 'BASIC', username: 'hub', passwordSet: true });
    expect(res.body).not.toContain('p@ss-w0rd-secret');
    expect(body).toMatchObject({
      tenantId: 'acme',
      status: 'ACTIVE',
      version: 1,
      contentMode: 'BINARY',
      ordered: false,
    });

    const got = await ctx.op.get(`/v1/subscriptions/${body.id}`);
    expect(got.json().signingSecret).toBeUndefined();
    expect(got.body).not.toContain(body.signingSecret.slice(6));

    const change = ctx.subscriptions.changes.at(-1)!;
    expect(change.snapshot?.auth).toMatchObject({ type: 'BASIC', username: 'hub' });
    const sealed = (change.snapshot!.auth as { secret: string }).secret;
    expect(sealed).not.toContain('p@ss');
    expect(box.open(sealed, body.id)).toBe('p@ss-w0rd-secret');
    expect(box.open(change.snapshot!.signing.current, body.id)).toBe(body.signingSecret);
  });

  it('requires a tenantId from operator keys and defaults it for tenant keys', async () => {
    const { tenantId: _t, ...noTenant } = aSubscription();
    expect((await ctx.op.post('/v1/subscriptions', noTenant)).json().errors).toEqual([
      { in: 'body', path: 'tenantId', message: 'required for operator keys' },
    ]);
    const key = await ctx.tenantKey('globex');
    const res = await ctx.as(key).post('/v1/subscriptions', noTenant);
    expect(res.json().tenantId).toBe('globex');
    expect((await ctx.as(key).post('/v1/subscriptions', aSubscription({ tenantId: 'acme' }))).statusCode).toBe(403);
  });

  it.each([
    ['unknown field', { extra: true }, 'extra', 'unknown field'],
    ['unknown nested field', { match: { ...aSubscription().match, tenant: 'x' } }, 'match.tenant', 'unknown field'],
    ['wrong type', { ordered: 'yes' }, 'ordered', ''],
    ['bad match part', { match: { ...aSubscription().match, eventType: 'a b' } }, 'match.eventType', ''],
    ['unknown auth type', { auth: { type: 'KERBEROS' } }, 'auth.type', 'auth.type must be one of'],
    ['missing auth field', { auth: { type: 'BASIC', username: 'u' } }, 'auth.password', ''],
    ['missing oauth field', { auth: { type: 'OAUTH2', clientId: 'c', clientSecret: 's' } }, 'auth.tokenUrl', ''],
    ['reserved custom header', { customHeaders: { 'webhook-id': 'x' } }, 'customHeaders.webhook-id', ''],
    ['header with newline', { customHeaders: { 'x-a': 'a\r\nb' } }, 'customHeaders.x-a', ''],
    ['maxAttempts out of range', { maxAttempts: 0 }, 'maxAttempts', ''],
    [
      'a retrySchedule step that is not a duration',
      { retrySchedule: ['5s', '5x', '2h'] },
      'retrySchedule.1',
      'step 2 ("5x") is not a duration such as 5s, 5m, 2h',
    ],
    ['a retrySchedule step out of range', { retrySchedule: ['500ms'] }, 'retrySchedule.0', 'between 1s and 7d'],
    ['an empty retrySchedule', { retrySchedule: [] }, 'retrySchedule', 'the schedule has no steps'],
    ['a retrySchedule that is not an array', { retrySchedule: '5s,5m' }, 'retrySchedule', 'durations'],
    ['a retrySchedule of numbers', { retrySchedule: [5000] }, 'retrySchedule.0', ''],
    ['batch maxEvents out of range', { batch: { maxEvents: 1001, maxWaitMs: 100 } }, 'batch.maxEvents', ''],
    ['batch maxWaitMs out of range', { batch: { maxEvents: 10, maxWaitMs: 10_001 } }, 'batch.maxWaitMs', ''],
    ['batch without maxWaitMs', { batch: { maxEvents: 10 } }, 'batch.maxWaitMs', ''],
    [
      'batch with ordered',
      { batch: { maxEvents: 10, maxWaitMs: 100 }, ordered: true },
      'batch',
      'cannot be combined with ordered delivery',
    ],
  ])('answers 400 with the field path for %s', async (_name, overrides, path, message) => {
    const res = await ctx.op.post('/v1/subscriptions', aSubscription(overrides));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const errors = res.json().errors as Array<{ path: string; message: string }>;
    expect(errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    if (message) expect(errors.find((e) => e.path === path)?.message).toContain(message);
  });

  it.each([
    ['https://127.0.0.2/x', 'URL.BLOCKED_ADDRESS'],
    ['http://93.184.216.34/x', 'URL.HTTPS_REQUIRED'],
    ['https://[::ffff:169.254.169.254]/', 'URL.BLOCKED_ADDRESS'],
    ['not-a-url', 'URL.INVALID'],
  ])('rejects endpoint %s', async (endpointUrl, code) => {
    const res = await ctx.op.post('/v1/subscriptions', aSubscription({ endpointUrl }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ path: 'endpointUrl', message: expect.stringContaining(code) });
  });

  it('answers the use cases’ refusals (domain errors) as problem+json of their type', async () => {
    const T = 'https://integration-hub.dev/problems/';
    const blocked = await ctx.op.post('/v1/subscriptions', aSubscription({ endpointUrl: 'https://127.0.0.2/x' }));
    expect(blocked.headers['content-type']).toContain('application/problem+json');
    expect(blocked.json()).toEqual({
      type: `${T}endpoint-not-allowed`,
      title: 'Endpoint not allowed',
      status: 400,
      detail: expect.stringMatching(/^endpointUrl: .+ \(URL\.BLOCKED_ADDRESS\)$/),
      instance: '/v1/subscriptions',
      errors: [{ in: 'body', path: 'endpointUrl', message: expect.stringContaining('URL.BLOCKED_ADDRESS') }],
    });
    expect((await ctx.op.get('/v1/subscriptions/nope')).json()).toMatchObject({
      type: `${T}not-found`,
      status: 404,
      detail: 'subscription "nope" not found',
    });
    expect((await ctx.op.get('/v1/subscriptions?cursor=bm9wZQ')).json()).toMatchObject({
      type: `${T}validation-error`,
      status: 400,
      errors: [{ in: 'querystring', path: 'cursor', message: 'not a cursor returned by this API' }],
    });
    const key = await ctx.tenantKey('acme');
    expect((await ctx.as(key).post('/v1/event-types', { name: 'x', domain: 'access' })).json()).toMatchObject({
      type: `${T}forbidden`,
      status: 403,
    });
    await ctx.op.post('/v1/event-types', { name: 'dup.created', domain: 'access' });
    expect((await ctx.op.post('/v1/event-types', { name: 'dup.created', domain: 'access' })).json()).toMatchObject({
      type: `${T}conflict`,
      status: 409,
      detail: 'event type "dup.created" already exists',
    });
  });

  it('validates the OAuth2 token URL with the same policy', async () => {
    const res = await ctx.op.post(
      '/v1/subscriptions',
      aSubscription({
        auth: { type: 'OAUTH2', clientId: 'c', clientSecret: 's', tokenUrl: 'https://169.254.169.254/token' },
      }),
    );
    expect(res.json().errors[0]).toMatchObject({ path: 'auth.tokenUrl' });
  });

  it('allows http to an allowlisted host', async () => {
    const res = await ctx.op.post('/v1/subscriptions', aSubscription({ endpointUrl: 'http://127.0.0.1:9/hook' }));
    expect(res.statusCode).toBe(201);
  });

  it('patches, keeping a secret that was not re-sent, and demands it when the auth type changes', async () => {
    const { id } = (await ctx.op.post('/v1/subscriptions', aSubscription())).json();
    const patched = await ctx.op.patch(`/v1/subscriptions/${id}`, {
      auth: { type: 'BASIC', username: 'hub2' },
      match: { operationType: '*' },
      maxAttempts: 5,
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      version: 2,
      auth: { type: 'BASIC', username: 'hub2', passwordSet: true },
      match: { sourceService: 'identity', operationType: '*' },
      maxAttempts: 5,
    });
    const snap = ctx.subscriptions.changes.at(-1)!.snapshot!;
    expect(box.open((snap.auth as { secret: string }).secret, id)).toBe('p@ss-w0rd-secret');

    const typeChange = await ctx.op.patch(`/v1/subscriptions/${id}`, { auth: { type: 'JWT' } });
    expect(typeChange.statusCode).toBe(400);
    expect(typeChange.json().errors[0].path).toBe('auth.token');
    expect((await ctx.op.patch(`/v1/subscriptions/${id}`, {})).statusCode).toBe(400);
    expect((await ctx.op.patch(`/v1/subscriptions/${id}`, { tenantId: 'other' })).json().errors[0]).toMatchObject({
      path: 'tenantId',
      message: 'unknown field',
    });
  });

  it('takes a retrySchedule as durations, stores milliseconds in the snapshot, and null restores the default', async () => {
    const created = await ctx.op.post('/v1/subscriptions', aSubscription({ retrySchedule: ['5s', '5m', '2h'] }));
    expect(created.statusCode).toBe(201);
    const { id } = created.json();
    expect(created.json().retrySchedule).toEqual(['5s', '5m', '2h']);
    expect(ctx.subscriptions.changes.at(-1)!.snapshot!.retrySchedule).toEqual([5_000, 300_000, 7_200_000]);
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).json().retrySchedule).toEqual(['5s', '5m', '2h']);

    // shown in the shortest exact unit
    const patched = await ctx.op.patch(`/v1/subscriptions/${id}`, { retrySchedule: ['90s', '1.5h', '1d'] });
    expect(patched.json()).toMatchObject({ version: 2, retrySchedule: ['90s', '90m', '1d'] });
    expect(ctx.subscriptions.changes.at(-1)!.snapshot!.retrySchedule).toEqual([90_000, 5_400_000, 86_400_000]);

    const bad = await ctx.op.patch(`/v1/subscriptions/${id}`, { retrySchedule: ['5s', '8d'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([
      { in: 'body', path: 'retrySchedule.1', message: 'step 2 must be between 1s and 7d' },
    ]);
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).json().version).toBe(2);

    const cleared = await ctx.op.patch(`/v1/subscriptions/${id}`, { retrySchedule: null });
    expect(cleared.json()).toMatchObject({ version: 3, retrySchedule: null });
    const snap = ctx.subscriptions.changes.at(-1)!.snapshot!;
    expect(snap).not.toHaveProperty('retrySchedule');

    // left out on create = the hub's default
    const plain = (await ctx.op.post('/v1/subscriptions', aSubscription())).json();
    expect(plain.retrySchedule).toBeNull();
    expect(ctx.subscriptions.changes.at(-1)!.snapshot).not.toHaveProperty('retrySchedule');
  });

  it('takes batch { maxEvents, maxWaitMs } into the view and the snapshot; null turns it off; never with ordered', async () => {
    const created = await ctx.op.post('/v1/subscriptions', aSubscription({ batch: { maxEvents: 50, maxWaitMs: 200 } }));
    expect(created.statusCode).toBe(201);
    const { id } = created.json();
    expect(created.json().batch).toEqual({ maxEvents: 50, maxWaitMs: 200 });
    expect(ctx.subscriptions.changes.at(-1)!.snapshot!.batch).toEqual({ maxEvents: 50, maxWaitMs: 200 });

    // ordered on a batched subscription: refused, the stored version unchanged
    const both = await ctx.op.patch(`/v1/subscriptions/${id}`, { ordered: true });
    expect(both.statusCode).toBe(400);
    expect(both.json().errors).toEqual([
      { in: 'body', path: 'ordered', message: expect.stringContaining('cannot be combined with ordered delivery') },
    ]);
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).json()).toMatchObject({ version: 1, ordered: false });

    const patched = await ctx.op.patch(`/v1/subscriptions/${id}`, { batch: { maxEvents: 1, maxWaitMs: 0 } });
    expect(patched.json()).toMatchObject({ version: 2, batch: { maxEvents: 1, maxWaitMs: 0 } });
    const cleared = await ctx.op.patch(`/v1/subscriptions/${id}`, { batch: null, ordered: true });
    expect(cleared.json()).toMatchObject({ version: 3, batch: null, ordered: true });
    expect(ctx.subscriptions.changes.at(-1)!.snapshot).not.toHaveProperty('batch');
    expect((await ctx.op.post('/v1/subscriptions', aSubscription())).json().batch).toBeNull();
  });

  it('shows held deliveries and endpoint health in the view, read once per list page', async () => {
    const a = (await ctx.op.post('/v1/subscriptions', aSubscription())).json();
    const b = (await ctx.op.post('/v1/subscriptions', aSubscription())).json();
    expect(a).toMatchObject({
      held: { count: 0, oldestAgeSeconds: null },
      health: { failing: false, exhaustedDeliveries: 0, lastExhaustedAt: null },
    });
    ctx.deliveryStatus.statuses.set(b.id, {
      held: { count: 3, oldestAt: new Date(Date.now() - 120_000) },
      health: { failing: true, exhaustedDeliveries: 2, lastExhaustedAt: new Date('2026-11-30T10:00:00.000Z') },
    });

    const got = (await ctx.op.get(`/v1/subscriptions/${b.id}`)).json();
    expect(got.held.count).toBe(3);
    expect(got.held.oldestAgeSeconds).toBeGreaterThanOrEqual(119);
    expect(got.held.oldestAgeSeconds).toBeLessThan(130);
    expect(got.health).toEqual({ failing: true, exhaustedDeliveries: 2, lastExhaustedAt: '2026-11-30T10:00:00.000Z' });

    ctx.deliveryStatus.calls.length = 0;
    const page = (await ctx.op.get('/v1/subscriptions?limit=10')).json();
    expect(page.items.map((s: { held: { count: number } }) => s.held.count)).toEqual([0, 3]);
    expect(ctx.deliveryStatus.calls).toEqual([[a.id, b.id]]);

    expect((await ctx.op.post(`/v1/subscriptions/${b.id}/pause`)).json().held.count).toBe(3);
    // read-only: not accepted as input
    expect((await ctx.op.patch(`/v1/subscriptions/${b.id}`, { held: { count: 0 } })).statusCode).toBe(400);
  });

  it('pauses, resumes, rotates and deletes', async () => {
    const { id, signingSecret } = (await ctx.op.post('/v1/subscriptions', aSubscription())).json();
    expect((await ctx.op.post(`/v1/subscriptions/${id}/pause`)).json()).toMatchObject({ status: 'PAUSED', version: 2 });
    expect((await ctx.op.post(`/v1/subscriptions/${id}/pause`)).json()).toMatchObject({ version: 2 });
    expect((await ctx.op.post(`/v1/subscriptions/${id}/resume`)).json()).toMatchObject({
      status: 'ACTIVE',
      version: 3,
    });

    const rotated = (await ctx.op.post(`/v1/subscriptions/${id}/rotate-secret`)).json();
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(signingSecret);
    const hours = (Date.parse(rotated.previousSecretExpiresAt) - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(23.9);
    const snap = ctx.subscriptions.changes.at(-1)!.snapshot!;
    expect(box.open(snap.signing.previous!, id)).toBe(signingSecret);
    expect(box.open(snap.signing.current, id)).toBe(rotated.signingSecret);
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).json().signing.previousSecretExpiresAt).toBe(
      rotated.previousSecretExpiresAt,
    );

    expect((await ctx.op.del(`/v1/subscriptions/${id}`)).statusCode).toBe(204);
    expect(ctx.subscriptions.changes.at(-1)).toMatchObject({ subscriptionId: id, snapshot: null });
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).statusCode).toBe(404);
    expect((await ctx.op.del(`/v1/subscriptions/${id}`)).statusCode).toBe(404);
  });

  it('audits each change as made by the calling key, with the request id; a refused change is not audited', async () => {
    const key = await ctx.tenantKey('acme');
    const keyId = (await ctx.op.get('/v1/api-keys?tenantId=acme')).json().items[0].id;
    const headers = { authorization: `Bearer ${key}`, 'x-request-id': 'req-42' };
    const created = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers, payload: aSubscription() });
    const { id } = created.json();
    expect((await ctx.as(key).post(`/v1/subscriptions/${id}/pause`)).statusCode).toBe(200);
    expect((await ctx.as(key).patch(`/v1/subscriptions/${id}`, { maxAttempts: 0 })).statusCode).toBe(400);
    expect(ctx.subscriptions.audits.map((a) => [a.action, a.actor.keyId, a.actor.requestId, a.version])).toEqual([
      ['subscription.created', keyId, 'req-42', 1],
      ['subscription.paused', keyId, expect.any(String), 2],
    ]);
    expect(ctx.subscriptions.audits[0]!.actor.name).toBe('acme');
  });

  it('hides other tenants behind 404 on every route', async () => {
    const { id } = (await ctx.op.post('/v1/subscriptions', aSubscription({ tenantId: 'acme' }))).json();
    const other = ctx.as(await ctx.tenantKey('globex'));
    const answers = [
      await other.get(`/v1/subscriptions/${id}`),
      await other.patch(`/v1/subscriptions/${id}`, { ordered: true }),
      await other.post(`/v1/subscriptions/${id}/pause`),
      await other.post(`/v1/subscriptions/${id}/resume`),
      await other.post(`/v1/subscriptions/${id}/rotate-secret`),
      await other.del(`/v1/subscriptions/${id}`),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([404, 404, 404, 404, 404, 404]);
    expect((await other.get('/v1/subscriptions')).json().items).toEqual([]);
    expect((await other.get('/v1/subscriptions?tenantId=acme')).statusCode).toBe(403);
    expect((await ctx.op.get(`/v1/subscriptions/${id}`)).json().version).toBe(1);
  });

  it('paginates with a cursor and filters', async () => {
    for (let i = 0; i < 5; i++) await ctx.op.post('/v1/subscriptions', aSubscription());
    await ctx.op.post(
      '/v1/subscriptions',
      aSubscription({ match: { sourceService: 'iam', eventType: '*', resourceType: 'ROLE', operationType: '*' } }),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; nextCursor: string | null } = (
        await ctx.op.get(`/v1/subscriptions?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect([...seen].sort()).toEqual(seen);
    expect((await ctx.op.get('/v1/subscriptions?resourceType=ROLE')).json().items).toHaveLength(1);
    expect((await ctx.op.get('/v1/subscriptions?sourceService=identity&status=ACTIVE')).json().items).toHaveLength(5);
    expect((await ctx.op.get('/v1/subscriptions?cursor=garbage')).json().errors[0].path).toBe('cursor');
    expect((await ctx.op.get('/v1/subscriptions?limit=0')).statusCode).toBe(400);
    expect((await ctx.op.get('/v1/subscriptions?colour=red')).json().errors[0]).toMatchObject({ path: 'colour' });
  });

  it('manages event types: operator writes, everyone reads, duplicates conflict', async () => {
    const created = await ctx.op.post('/v1/event-types', {
      name: 'user.created',
      domain: 'user-lifecycle',
      description: 'A user was created',
      schemaRef: 'schemas/platform-event.schema.json',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'user.created', deprecated: false });
    expect((await ctx.op.post('/v1/event-types', { name: 'user.created', domain: 'access' })).statusCode).toBe(409);
    expect((await ctx.op.post('/v1/event-types', { name: 'x', domain: 'nowhere' })).json().errors[0].path).toBe(
      'domain',
    );

    const tenant = ctx.as(await ctx.tenantKey('acme'));
    expect((await tenant.get('/v1/event-types/user.created')).json().domain).toBe('user-lifecycle');
    expect((await tenant.post('/v1/event-types', { name: 'y', domain: 'access' })).statusCode).toBe(403);

    const patched = await ctx.op.patch('/v1/event-types/user.created', { deprecated: true, schemaRef: null });
    expect(patched.json()).toMatchObject({ deprecated: true, schemaRef: null });
    expect((await ctx.op.get('/v1/event-types?deprecated=true')).json().items).toHaveLength(1);
    expect((await ctx.op.get(`/v1/event-types/${created.json().id}`)).statusCode).toBe(200);
    expect((await ctx.op.del('/v1/event-types/user.created')).statusCode).toBe(204);
    expect((await ctx.op.get('/v1/event-types/user.created')).statusCode).toBe(404);
  });

  it('answers 413 for an oversized body and 400 for malformed JSON', async () => {
    const big = await ctx.op.post('/v1/subscriptions', aSubscription({ description: 'x'.repeat(20_000) }));
    expect(big.statusCode).toBe(413);
    const malformed = await app.inject({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      payload: '{"tenantId": "acme",',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().title).toBe('Malformed JSON');
  });

  it('documents the API at /openapi.json', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/subscriptions', '/v1/subscriptions/{id}', '/v1/event-types', '/v1/api-keys']),
    );
    const create = doc.paths['/v1/subscriptions'].post.requestBody.content['application/json'].schema;
    expect(create.properties.retrySchedule).toMatchObject({
      type: 'array',
      maxItems: 50,
      description: expect.stringContaining("Default: the hub's DELIVERY_RETRY_SCHEDULE"),
    });
    const view = doc.components.schemas.Subscription.properties;
    expect(Object.keys(view)).toEqual(expect.arrayContaining(['retrySchedule', 'held', 'health']));
    expect(view.held.description).toContain('Read-only');
  });
});
