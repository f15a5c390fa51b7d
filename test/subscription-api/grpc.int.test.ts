/**
 * The subscription-api's gRPC API over a real port, with the generated client: the same registry as REST (each
 * sees the other's changes), the same validation (INVALID_ARGUMENT with field violations), the same tenancy, and
 * GetSubscriptionsByEvent agreeing with the event-processor's matcher (the changelog-fed directory).
 */
import { status } from '@grpc/grpc-js';
import {
  CreateEventTypeRequest,
  EventTypeServiceClient,
  ListEventTypesRequest,
  UpdateEventTypeRequest,
} from '../../schemas/proto/gen/integrationhub/v1/event_type';
import {
  ContentMode,
  CreateSubscriptionRequest,
  ListSubscriptionsRequest,
  Subscription,
  SubscriptionServiceClient,
  SubscriptionStatus,
} from '../../schemas/proto/gen/integrationhub/v1/subscription';
import { callAs, failure, insecureClient } from '../support/grpc';
import { waitFor } from '../support/kafka';
import { aSubscription, type Harness, OPERATOR_KEY, startHarness } from './harness';

const KEY = { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' };
const aProtoSubscription = (overrides: Partial<Subscription> = {}) => ({
  tenantId: 'acme',
  match: { ...KEY },
  endpointUrl: 'https://hooks.example.com/webhooks',
  ...overrides,
});

let h: Harness;
let subs: InstanceType<typeof SubscriptionServiceClient>;
let types: InstanceType<typeof EventTypeServiceClient>;

beforeAll(async () => {
  h = await startHarness({ grpc: true, directory: true });
  subs = insecureClient(SubscriptionServiceClient, h.grpc!.address);
  types = insecureClient(EventTypeServiceClient, h.grpc!.address);
});
afterAll(async () => {
  subs?.close();
  types?.close();
  await h?.close();
});

const create = (s: Partial<Subscription>, key = OPERATOR_KEY) =>
  callAs(subs, subs.createSubscription, CreateSubscriptionRequest.fromPartial({ subscription: s }), key);

describe('subscription-api gRPC', () => {
  it('creates over gRPC what REST reads, and reads over gRPC what REST changed', async () => {
    const created = await create(
      aProtoSubscription({
        auth: { type: { $case: 'basic', value: { username: 'u', password: 'p4ss', passwordSet: false } } },
      }),
    );
    expect(created.signingSecret).toMatch(/^whsec_/);
    const id = created.subscription!.id;
    expect(created.subscription!.name).toBe(`subscriptions/${id}`);
    expect(created.subscription!.auth?.type).toEqual({
      $case: 'basic',
      value: { username: 'u', password: '', passwordSet: true },
    });

    const viaRest = await h.op.get(`/v1/subscriptions/${id}`);
    expect(viaRest.statusCode).toBe(200);
    expect(viaRest.json()).toMatchObject({ id, tenantId: 'acme', match: KEY, auth: { type: 'BASIC', username: 'u' } });

    expect((await h.op.post(`/v1/subscriptions/${id}/pause`)).statusCode).toBe(200);
    const got = await callAs(subs, subs.getSubscription, { name: `subscriptions/${id}` }, OPERATOR_KEY);
    expect(got.status).toBe(SubscriptionStatus.SUBSCRIPTION_STATUS_PAUSED);
    expect(got.version).toBe(2);

    const updated = await callAs(
      subs,
      subs.updateSubscription,
      {
        subscription: {
          ...got,
          description: 'via gRPC',
          contentMode: ContentMode.CONTENT_MODE_STRUCTURED,
          match: { ...KEY, eventType: '*' },
        },
        updateMask: ['description', 'content_mode', 'match.event_type'],
      },
      OPERATOR_KEY,
    );
    expect(updated).toMatchObject({ description: 'via gRPC', contentMode: ContentMode.CONTENT_MODE_STRUCTURED });
    expect((await h.op.get(`/v1/subscriptions/${id}`)).json()).toMatchObject({
      description: 'via gRPC',
      contentMode: 'STRUCTURED',
      match: { ...KEY, eventType: '*' },
      auth: { type: 'BASIC', username: 'u', passwordSet: true },
    });

    const resumed = await callAs(subs, subs.resumeSubscription, { name: `subscriptions/${id}` }, OPERATOR_KEY);
    expect(resumed.status).toBe(SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE);
    const rotated = await callAs(subs, subs.rotateSubscriptionSecret, { name: `subscriptions/${id}` }, OPERATOR_KEY);
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(created.signingSecret);

    const page = await callAs(
      subs,
      subs.listSubscriptions,
      ListSubscriptionsRequest.fromPartial({ tenantId: 'acme', pageSize: 200 }),
      OPERATOR_KEY,
    );
    expect(page.subscriptions.map((s) => s.id)).toContain(id);

    await callAs(subs, subs.deleteSubscription, { name: `subscriptions/${id}` }, OPERATOR_KEY);
    expect((await h.op.get(`/v1/subscriptions/${id}`)).statusCode).toBe(404);
    // The secret never appears in the logs.
    expect(h.logs.join('\n')).not.toContain('p4ss');
  });

  it('takes batched delivery over gRPC: created, shown, cleared through the update mask; never with ordered', async () => {
    const created = await create(aProtoSubscription({ batch: { maxEvents: 25, maxWaitMs: 50 } }));
    const { id, name } = created.subscription!;
    expect(created.subscription!.batch).toEqual({ maxEvents: 25, maxWaitMs: 50 });
    expect((await h.op.get(`/v1/subscriptions/${id}`)).json().batch).toEqual({ maxEvents: 25, maxWaitMs: 50 });

    const both = await failure(
      callAs(
        subs,
        subs.updateSubscription,
        { subscription: Subscription.fromPartial({ name, ordered: true }), updateMask: ['ordered'] },
        OPERATOR_KEY,
      ),
    );
    expect(both.code).toBe(status.INVALID_ARGUMENT);
    expect(both.violations).toEqual([
      { field: 'subscription.ordered', description: expect.stringContaining('cannot be combined with ordered') },
    ]);
    const tooBig = await failure(create(aProtoSubscription({ batch: { maxEvents: 5000, maxWaitMs: 50 } })));
    expect(tooBig.violations.map((v) => v.field)).toEqual(['subscription.batch.max_events']);

    const cleared = await callAs(
      subs,
      subs.updateSubscription,
      { subscription: Subscription.fromPartial({ name }), updateMask: ['batch'] },
      OPERATOR_KEY,
    );
    expect(cleared.batch).toBeUndefined();
    expect((await h.op.get(`/v1/subscriptions/${id}`)).json().batch).toBeNull();
  });

  it('answers INVALID_ARGUMENT with proto field violations for what REST refuses, and stores nothing', async () => {
    const before = await h.db.prisma.subscription.count();
    const f = await failure(
      create(
        aProtoSubscription({
          match: { ...KEY, eventType: 'bad key!' },
          auth: { type: { $case: 'basic', value: { username: 'u', password: '', passwordSet: false } } },
          retrySchedule: ['5s', 'soon'],
        }),
      ),
    );
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    expect(f.violations.map((v) => v.field).sort()).toEqual([
      'subscription.auth.basic.password',
      'subscription.match.event_type',
      'subscription.retry_schedule.1',
    ]);
    expect(f.errorInfo?.reason).toBe('VALIDATION_ERROR');
    const badMask = await failure(
      callAs(
        subs,
        subs.updateSubscription,
        { subscription: Subscription.fromPartial({ name: 'subscriptions/x' }), updateMask: ['version'] },
        OPERATOR_KEY,
      ),
    );
    expect(badMask.code).toBe(status.INVALID_ARGUMENT);
    expect(badMask.violations).toEqual([{ field: 'update_mask.paths[0]', description: '"version" cannot be updated' }]);
    const badPage = await failure(
      callAs(subs, subs.listSubscriptions, ListSubscriptionsRequest.fromPartial({ pageSize: 1000 }), OPERATOR_KEY),
    );
    expect(badPage.violations.map((v) => v.field)).toEqual(['page_size']);
    expect(await h.db.prisma.subscription.count()).toBe(before);
  });

  it('answers UNAUTHENTICATED without a valid key, NOT_FOUND / PERMISSION_DENIED across tenants', async () => {
    const wrong = await failure(create(aProtoSubscription(), 'ihk_not-a-real-key-at-all-0000000000000000000'));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);

    const acmeKey = await h.tenantKey('acme');
    const otherKey = await h.tenantKey('other');
    const mine = await create(aProtoSubscription({ tenantId: '' }), acmeKey);
    expect(mine.subscription!.tenantId).toBe('acme');
    const name = mine.subscription!.name;

    for (const call of [
      callAs(subs, subs.getSubscription, { name }, otherKey),
      callAs(subs, subs.pauseSubscription, { name }, otherKey),
      callAs(subs, subs.deleteSubscription, { name }, otherKey),
      callAs(subs, subs.rotateSubscriptionSecret, { name }, otherKey),
    ]) {
      expect((await failure(call)).code).toBe(status.NOT_FOUND);
    }
    expect((await failure(create(aProtoSubscription({ tenantId: 'acme' }), otherKey))).code).toBe(
      status.PERMISSION_DENIED,
    );
    expect(
      (await failure(callAs(subs, subs.getSubscriptionsByEvent, { tenantId: 'acme', match: KEY }, otherKey))).code,
    ).toBe(status.PERMISSION_DENIED);
    // Tenant keys read the event type catalogue but do not write it.
    const denied = await failure(
      callAs(
        types,
        types.createEventType,
        CreateEventTypeRequest.fromPartial({ eventType: { eventType: 'x.y', domain: 'access' } }),
        acmeKey,
      ),
    );
    expect(denied.code).toBe(status.PERMISSION_DENIED);
  });

  it('GetSubscriptionsByEvent returns what the event-processor matcher delivers to, without secrets', async () => {
    const tenant = `t-${Date.now()}`;
    const made = await Promise.all(
      [
        { ...KEY },
        { ...KEY, eventType: '*' },
        { ...KEY, sourceService: '*', operationType: '*' },
        { ...KEY, eventType: 'user.deleted' },
        { ...KEY, resourceType: 'GROUP' },
      ].map((match) =>
        create(
          aProtoSubscription({
            tenantId: tenant,
            match,
            auth: { type: { $case: 'jwt', value: { token: 'jwt-secret-token', tokenSet: false } } },
          }),
        ),
      ),
    );
    const paused = await create(
      aProtoSubscription({ tenantId: tenant, status: SubscriptionStatus.SUBSCRIPTION_STATUS_PAUSED }),
    );
    await create(aProtoSubscription({ tenantId: `${tenant}-other` }));
    const ids = [...made, paused].map((m) => m.subscription!.id);
    // The directory (the event-processor's view, fed by the changelog) has seen them all.
    await waitFor(() => ids.every((id) => h.directory!.get(id)) || undefined, { what: 'the directory to catch up' });

    for (const event of [
      KEY,
      { ...KEY, eventType: 'user.deleted' },
      { ...KEY, resourceType: 'GROUP' },
      { ...KEY, sourceService: 'billing' },
    ]) {
      const res = await callAs(subs, subs.getSubscriptionsByEvent, { tenantId: tenant, match: event }, OPERATOR_KEY);
      const routed = h
        .directory!.match({ tenantId: tenant, ...event })
        .map((s) => s.id)
        .sort();
      expect(res.subscriptions.map((s) => s.id).sort()).toEqual(routed);
      expect(JSON.stringify(res)).not.toContain('jwt-secret-token');
    }
    const all = await callAs(subs, subs.getSubscriptionsByEvent, { tenantId: tenant, match: KEY }, OPERATOR_KEY);
    expect(all.subscriptions).toHaveLength(3);
    expect(all.subscriptions.map((s) => s.id)).not.toContain(paused.subscription!.id);
  });

  it('serves the event type catalogue', async () => {
    const t = await callAs(
      types,
      types.createEventType,
      CreateEventTypeRequest.fromPartial({
        eventType: { eventType: 'grpc.thing.created', domain: 'access', deprecated: false },
      }),
      OPERATOR_KEY,
    );
    expect(t.name).toBe(`eventTypes/${t.id}`);
    expect((await h.op.get('/v1/event-types/grpc.thing.created')).json()).toMatchObject({ domain: 'access' });
    const dup = await failure(
      callAs(
        types,
        types.createEventType,
        CreateEventTypeRequest.fromPartial({ eventType: { eventType: 'grpc.thing.created', domain: 'access' } }),
        OPERATOR_KEY,
      ),
    );
    expect(dup.code).toBe(status.ALREADY_EXISTS);
    const updated = await callAs(
      types,
      types.updateEventType,
      UpdateEventTypeRequest.fromPartial({
        eventType: { name: 'eventTypes/grpc.thing.created', deprecated: true },
        updateMask: ['deprecated'],
      }),
      OPERATOR_KEY,
    );
    expect(updated.deprecated).toBe(true);
    const list = await callAs(
      types,
      types.listEventTypes,
      ListEventTypesRequest.fromPartial({ domain: 'access' }),
      OPERATOR_KEY,
    );
    expect(list.eventTypes.map((e) => e.eventType)).toContain('grpc.thing.created');
    await callAs(types, types.deleteEventType, { name: t.name }, OPERATOR_KEY);
    expect((await failure(callAs(types, types.getEventType, { name: t.name }, OPERATOR_KEY))).code).toBe(
      status.NOT_FOUND,
    );
  });

  it('aSubscription (REST) created rows are listed over gRPC', async () => {
    const res = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'rest-made' }));
    expect(res.statusCode).toBe(201);
    const page = await callAs(
      subs,
      subs.listSubscriptions,
      ListSubscriptionsRequest.fromPartial({ tenantId: 'rest-made' }),
      OPERATOR_KEY,
    );
    expect(page.subscriptions.map((s) => s.id)).toEqual([res.json().id]);
    expect(page.nextPageToken).toBe('');
  });
});
