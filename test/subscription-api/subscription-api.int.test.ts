/**
 * subscription-api on real Postgres: CRUD round trips, pagination and filters, tenant isolation on every route,
 * precise problem bodies for bad input, the SSRF table at the API, the retry schedule in the row and the changelog
 * snapshot, and the view's held deliveries and endpoint health read from the dlt-processor's tables.
 */
import { randomUUID } from 'node:crypto';
import { subscriptionSnapshotSchema } from '../../pipeline/shared/subscriptions/snapshot';
import { aSubscription, type Harness, OPERATOR_KEY, startHarness } from './harness';

const opAuth = { authorization: `Bearer ${OPERATOR_KEY}` };

describe('subscription-api (Postgres)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ relay: false, bodyLimitBytes: 8 * 1024 });
  });
  afterAll(() => h.close());

  describe('event types', () => {
    it('round-trips create, get (by id and by name), list with filters, update and delete', async () => {
      const created = await h.op.post('/v1/event-types', {
        name: 'user.created',
        description: 'A user was created',
        domain: 'user-lifecycle',
        schemaRef: 'schemas/platform-event.schema.json',
      });
      expect(created.statusCode).toBe(201);
      const et = created.json();
      expect(et).toMatchObject({ name: 'user.created', domain: 'user-lifecycle', deprecated: false });
      await h.op.post('/v1/event-types', { name: 'role.assigned', domain: 'access' });

      expect((await h.op.get(`/v1/event-types/${et.id}`)).json()).toEqual(et);
      expect((await h.op.get('/v1/event-types/user.created')).json()).toEqual(et);
      expect((await h.op.get('/v1/event-types')).json().items.map((e: { name: string }) => e.name)).toEqual([
        'role.assigned',
        'user.created',
      ]);
      expect((await h.op.get('/v1/event-types?domain=access')).json().items).toHaveLength(1);

      const dup = await h.op.post('/v1/event-types', { name: 'user.created', domain: 'access' });
      expect(dup.statusCode).toBe(409);

      const patched = await h.op.patch('/v1/event-types/user.created', { deprecated: true, description: null });
      expect(patched.json()).toMatchObject({ deprecated: true, description: null, schemaRef: et.schemaRef });
      expect((await h.op.get('/v1/event-types?deprecated=true')).json().items).toHaveLength(1);

      expect((await h.op.del('/v1/event-types/user.created')).statusCode).toBe(204);
      expect((await h.op.get(`/v1/event-types/${et.id}`)).statusCode).toBe(404);
      expect((await h.op.del('/v1/event-types/user.created')).statusCode).toBe(404);
    });

    it('lets tenant keys read but not write the catalogue', async () => {
      const tenant = h.as(await h.tenantKey('reader'));
      expect((await tenant.get('/v1/event-types')).statusCode).toBe(200);
      expect((await tenant.post('/v1/event-types', { name: 'x.y', domain: 'policy' })).statusCode).toBe(403);
      expect((await tenant.patch('/v1/event-types/role.assigned', { deprecated: true })).statusCode).toBe(403);
      expect((await tenant.del('/v1/event-types/role.assigned')).statusCode).toBe(403);
    });
  });

  describe('subscriptions', () => {
    it('round-trips create, get, patch, pause, resume, rotate-secret and delete', async () => {
      const res = await h.op.post(
        '/v1/subscriptions',
        aSubscription({
          tenantId: 'crud',
          description: 'crud',
          contentMode: 'STRUCTURED',
          auth: {
            type: 'OAUTH2',
            clientId: 'hub',
            clientSecret: 'oauth-client-secret-crud',
            tokenUrl: 'https://tokens.example.com/oauth/token',
            scope: 'events:write',
          },
          customHeaders: { 'X-Team': 'identity' },
          maxAttempts: 7,
          ordered: true,
        }),
      );
      expect(res.statusCode).toBe(201);
      const created = res.json();
      expect(created).toMatchObject({
        tenantId: 'crud',
        status: 'ACTIVE',
        version: 1,
        contentMode: 'STRUCTURED',
        auth: {
          type: 'OAUTH2',
          clientId: 'hub',
          tokenUrl: 'https://tokens.example.com/oauth/token',
          scope: 'events:write',
          clientSecretSet: true,
        },
        customHeaders: { 'X-Team': 'identity' },
        maxAttempts: 7,
        ordered: true,
        signing: { previousSecretExpiresAt: null },
      });
      expect(created.signingSecret).toMatch(/^whsec_/);
      expect(res.headers.location).toBe(`/v1/subscriptions/${created.id}`);

      const { signingSecret: _s, ...view } = created;
      const got = (await h.op.get(`/v1/subscriptions/${created.id}`)).json();
      expect(got).toEqual(view);

      const patched = (
        await h.op.patch(`/v1/subscriptions/${created.id}`, {
          endpointUrl: 'https://hooks.example.com/v2',
          auth: { type: 'APIKEY', headerName: 'X-Api-Key', key: 'subscriber-api-key-crud' },
          match: { eventType: '*' },
          maxAttempts: null,
        })
      ).json();
      expect(patched).toMatchObject({
        version: 2,
        endpointUrl: 'https://hooks.example.com/v2',
        auth: { type: 'APIKEY', headerName: 'X-Api-Key', keySet: true },
        match: { sourceService: 'identity', eventType: '*' },
        maxAttempts: null,
      });

      expect((await h.op.post(`/v1/subscriptions/${created.id}/pause`)).json()).toMatchObject({
        status: 'PAUSED',
        version: 3,
      });
      expect((await h.op.post(`/v1/subscriptions/${created.id}/resume`)).json()).toMatchObject({
        status: 'ACTIVE',
        version: 4,
      });
      const rotated = (await h.op.post(`/v1/subscriptions/${created.id}/rotate-secret`)).json();
      expect(rotated).toMatchObject({ id: created.id, version: 5 });
      expect(rotated.signingSecret).not.toBe(created.signingSecret);
      expect((await h.op.get(`/v1/subscriptions/${created.id}`)).json().signing.previousSecretExpiresAt).toBe(
        rotated.previousSecretExpiresAt,
      );

      expect((await h.op.del(`/v1/subscriptions/${created.id}`)).statusCode).toBe(204);
      expect((await h.op.get(`/v1/subscriptions/${created.id}`)).statusCode).toBe(404);
    });

    it('paginates with a cursor (no gaps, no repeats) and filters by tenant, match parts and status', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await h.op.post(
          '/v1/subscriptions',
          aSubscription({
            tenantId: i < 5 ? 'page-a' : 'page-b',
            match: {
              sourceService: i % 2 ? 'iam' : 'identity',
              eventType: '*',
              resourceType: i === 6 ? 'ROLE' : 'USER',
              operationType: '*',
            },
          }),
        );
        ids.push(r.json().id);
      }
      await h.op.post(`/v1/subscriptions/${ids[0]}/pause`);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { items: Array<{ id: string }>; nextCursor: string | null } = (
          await h.op.get(`/v1/subscriptions?tenantId=page-a&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        ).json();
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(ids.slice(0, 5));
      expect(pages).toBe(3);

      const q = async (query: string) =>
        (await h.op.get(`/v1/subscriptions?${query}`)).json().items.map((s: { id: string }) => s.id);
      expect(await q('tenantId=page-b')).toEqual(ids.slice(5));
      expect(await q('tenantId=page-b&resourceType=ROLE')).toEqual([ids[6]]);
      expect(await q('tenantId=page-a&sourceService=iam')).toEqual([ids[1], ids[3]]);
      expect(await q('tenantId=page-a&status=PAUSED')).toEqual([ids[0]]);
      expect(await q('tenantId=page-a&eventType=*&operationType=*')).toHaveLength(5);
    });

    it('keeps every tenant to its own subscriptions on every route', async () => {
      const acme = h.as(await h.tenantKey('iso-acme'));
      const globex = h.as(await h.tenantKey('iso-globex'));
      const mine = (await acme.post('/v1/subscriptions', aSubscription({ tenantId: undefined }))).json();
      expect(mine.tenantId).toBe('iso-acme');
      const theirs = (await globex.post('/v1/subscriptions', aSubscription({ tenantId: undefined }))).json();

      const routes = [
        () => acme.get(`/v1/subscriptions/${theirs.id}`),
        () => acme.patch(`/v1/subscriptions/${theirs.id}`, { ordered: true }),
        () => acme.post(`/v1/subscriptions/${theirs.id}/pause`),
        () => acme.post(`/v1/subscriptions/${theirs.id}/resume`),
        () => acme.post(`/v1/subscriptions/${theirs.id}/rotate-secret`),
        () => acme.del(`/v1/subscriptions/${theirs.id}`),
      ];
      for (const call of routes) {
        const res = await call();
        expect(res.statusCode).toBe(404);
        // indistinguishable from an id that does not exist
        expect(res.json().detail).toBe(`subscription "${theirs.id}" not found`);
      }
      const list = (await acme.get('/v1/subscriptions')).json().items.map((s: { id: string }) => s.id);
      expect(list).toEqual([mine.id]);
      expect((await acme.get('/v1/subscriptions?tenantId=iso-globex')).statusCode).toBe(403);
      expect((await acme.post('/v1/subscriptions', aSubscription({ tenantId: 'iso-globex' }))).statusCode).toBe(403);
      expect((await acme.get('/v1/api-keys')).statusCode).toBe(403);

      // nothing changed on the other tenant's subscription
      const after = (await h.op.get(`/v1/subscriptions/${theirs.id}`)).json();
      expect(after).toMatchObject({ version: 1, status: 'ACTIVE', ordered: false });
      // the operator sees both tenants
      expect((await h.op.get(`/v1/subscriptions/${mine.id}`)).statusCode).toBe(200);
    });

    it('round-trips retrySchedule: durations in the view, milliseconds in the row and the changelog snapshot', async () => {
      /** The latest SubscriptionChange row of a subscription (the relay publishes its snapshot verbatim). */
      const latestSnapshot = async (id: string) =>
        (
          await h.pool.query(
            'SELECT "snapshot" FROM "SubscriptionChange" WHERE "subscriptionId" = $1 ORDER BY id DESC LIMIT 1',
            [id],
          )
        ).rows[0].snapshot;
      const column = async (id: string) =>
        (await h.pool.query('SELECT "retrySchedule" FROM "Subscription" WHERE id = $1', [id])).rows[0].retrySchedule;

      const res = await h.op.post(
        '/v1/subscriptions',
        aSubscription({ tenantId: 'sched', retrySchedule: ['5s', '5m', '2h'] }),
      );
      expect(res.statusCode).toBe(201);
      const { id, retrySchedule } = res.json();
      expect(retrySchedule).toEqual(['5s', '5m', '2h']);
      expect((await h.op.get(`/v1/subscriptions/${id}`)).json().retrySchedule).toEqual(['5s', '5m', '2h']);
      expect(await column(id)).toEqual([5_000, 300_000, 7_200_000]);
      const snapshot = subscriptionSnapshotSchema.strict().parse(await latestSnapshot(id));
      expect(snapshot.retrySchedule).toEqual([5_000, 300_000, 7_200_000]);

      const bad = await h.op.patch(`/v1/subscriptions/${id}`, { retrySchedule: ['5s', '5x'] });
      expect(bad.statusCode).toBe(400);
      expect(bad.headers['content-type']).toContain('application/problem+json');
      expect(bad.json().errors).toEqual([
        { in: 'body', path: 'retrySchedule.1', message: 'step 2 ("5x") is not a duration such as 5s, 5m, 2h' },
      ]);
      expect(await column(id)).toEqual([5_000, 300_000, 7_200_000]);

      const cleared = (await h.op.patch(`/v1/subscriptions/${id}`, { retrySchedule: null })).json();
      expect(cleared).toMatchObject({ version: 2, retrySchedule: null });
      const sqlNull = await h.pool.query('SELECT "retrySchedule" IS NULL AS n FROM "Subscription" WHERE id = $1', [id]);
      expect(sqlNull.rows[0].n).toBe(true); // SQL NULL, not a JSON null
      const after = subscriptionSnapshotSchema.strict().parse(await latestSnapshot(id));
      expect(after.version).toBe(2);
      expect(after).not.toHaveProperty('retrySchedule');
    });

    it("shows held deliveries and endpoint health from the dlt-processor's tables, on get and on list", async () => {
      const paused = (
        await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'held', status: 'PAUSED' }))
      ).json();
      const other = (await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'held' }))).json();
      expect(paused).toMatchObject({
        held: { count: 0, oldestAgeSeconds: null },
        health: { failing: false, exhaustedDeliveries: 0, lastExhaustedAt: null },
      });

      // As the dlt-processor writes them: one HELD row (90 s old), plus rows that must not count: a delivered one,
      // and a HELD one whose tenant does not own the subscription.
      const insertFailed = (status: string, tenantId: string, ageSeconds: number) =>
        h.pool.query(
          `INSERT INTO "FailedEvent" ("id", "eventId", "subscriptionId", "tenantId", "domain", "ceHeaders", "body",
             "failureHeaders", "status", "reason", "firstFailedAt", "lastFailedAt", "createdAt")
           VALUES ($1, $2, $3, $4, 'user-lifecycle', '{}', '\\x7b7d', '{}', $5, 'subscription paused',
             now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
             (now() AT TIME ZONE 'UTC') - make_interval(secs => $6))`,
          [randomUUID(), randomUUID(), paused.id, tenantId, status, ageSeconds],
        );
      await insertFailed('HELD', 'held', 90);
      await insertFailed('DELIVERED', 'held', 600);
      await insertFailed('HELD', 'someone-else', 600);
      await h.pool.query(
        `INSERT INTO "SubscriptionHealth" ("subscriptionId", "tenantId", "failing", "exhaustedCount",
           "lastExhaustedAt", "lastExhaustedEventId")
         VALUES ($1, 'held', true, 2, '2026-11-30 10:00:00', 'evt-exhausted')`,
        [paused.id],
      );

      const got = (await h.op.get(`/v1/subscriptions/${paused.id}`)).json();
      expect(got.held.count).toBe(1);
      expect(got.held.oldestAgeSeconds).toBeGreaterThanOrEqual(89);
      expect(got.held.oldestAgeSeconds).toBeLessThan(150);
      expect(got.health).toEqual({
        failing: true,
        exhaustedDeliveries: 2,
        lastExhaustedAt: '2026-11-30T10:00:00.000Z',
      });

      const items: Array<{ id: string; held: unknown; health: unknown }> = (
        await h.op.get('/v1/subscriptions?tenantId=held')
      ).json().items;
      expect(items.map((s) => s.id)).toEqual([paused.id, other.id]);
      expect(items[0]).toMatchObject({ held: { count: 1 }, health: { failing: true, exhaustedDeliveries: 2 } });
      expect(items[1]).toMatchObject({
        held: { count: 0, oldestAgeSeconds: null },
        health: { failing: false, exhaustedDeliveries: 0, lastExhaustedAt: null },
      });

      // resume answers the current counts too (the dlt-processor releases the held rows afterwards)
      expect((await h.op.post(`/v1/subscriptions/${paused.id}/resume`)).json()).toMatchObject({
        status: 'ACTIVE',
        held: { count: 1 },
        health: { failing: true },
      });
    });

    it('rejects requests without a valid key', async () => {
      expect((await h.app.inject({ method: 'GET', url: '/v1/subscriptions' })).statusCode).toBe(401);
      const bad = h.as('ihk_not-a-real-key-000000000000000000000000000');
      expect((await bad.get('/v1/subscriptions')).statusCode).toBe(401);
    });
  });

  describe('bad input gets a precise problem and writes nothing', () => {
    const countRows = async () => Number((await h.pool.query('SELECT count(*) AS n FROM "Subscription"')).rows[0].n);

    it.each([
      ['an unknown field', { colour: 'red' }, 'colour', 'unknown field'],
      ['an unknown nested field', { match: { ...aSubscription().match, extra: 1 } }, 'match.extra', 'unknown field'],
      ['a wrong type', { ordered: 'yes' }, 'ordered', 'boolean'],
      ['a wrong enum', { contentMode: 'XML' }, 'contentMode', ''],
      ['a missing match', { match: undefined }, 'match', ''],
      ['an unknown auth type', { auth: { type: 'KERBEROS' } }, 'auth.type', 'must be one of'],
      ['a missing BASIC password', { auth: { type: 'BASIC', username: 'u' } }, 'auth.password', ''],
      [
        'a missing OAUTH2 tokenUrl',
        { auth: { type: 'OAUTH2', clientId: 'c', clientSecret: 's' } },
        'auth.tokenUrl',
        '',
      ],
      ['a missing JWT token', { auth: { type: 'JWT' } }, 'auth.token', ''],
      ['a missing APIKEY header', { auth: { type: 'APIKEY', key: 'k' } }, 'auth.headerName', ''],
      ['an auth field of another type', { auth: { type: 'NONE', password: 'x' } }, 'auth.password', 'unknown field'],
      ['a bad URL', { endpointUrl: 'hooks dot example' }, 'endpointUrl', 'URL.INVALID'],
      ['a non-http URL', { endpointUrl: 'ftp://hooks.example.com/' }, 'endpointUrl', 'URL.SCHEME'],
      ['a plain-http URL', { endpointUrl: 'http://hooks.example.com/' }, 'endpointUrl', 'URL.HTTPS_REQUIRED'],
      ['credentials in the URL', { endpointUrl: 'https://u:p@hooks.example.com/' }, 'endpointUrl', 'URL.CREDENTIALS'],
      ['an unresolvable host', { endpointUrl: 'https://nx.example.com/' }, 'endpointUrl', 'URL.UNRESOLVABLE'],
      [
        'a retry schedule step that is not a duration',
        { retrySchedule: ['5s', '5x'] },
        'retrySchedule.1',
        'step 2 ("5x") is not a duration',
      ],
    ])('%s', async (_name, overrides, path, message) => {
      const before = await countRows();
      const res = await h.op.post('/v1/subscriptions', aSubscription(overrides));
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const body = res.json();
      expect(body).toMatchObject({ status: 400, instance: '/v1/subscriptions', type: expect.any(String) });
      const err = (body.errors as Array<{ path: string; message: string }>).find((e) => e.path === path);
      expect(err).toBeDefined();
      if (message) expect(err!.message).toContain(message);
      expect(await countRows()).toBe(before);
    });

    it('answers an oversized body with 413', async () => {
      const res = await h.op.post('/v1/subscriptions', aSubscription({ description: 'x'.repeat(10_000) }));
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ status: 413, title: 'Content too large' });
    });

    it('answers malformed JSON with 400', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/subscriptions',
        headers: { ...opAuth, 'content-type': 'application/json' },
        payload: '{"tenantId": "acme", ',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ title: 'Malformed JSON' });
    });

    it('answers a wrong content type with 415', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/subscriptions',
        headers: { ...opAuth, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'a=b',
      });
      expect(res.statusCode).toBe(415);
    });

    it('answers unknown ids with 404 on every route', async () => {
      const id = '01900000-0000-7000-8000-000000000000';
      for (const res of [
        await h.op.get(`/v1/subscriptions/${id}`),
        await h.op.patch(`/v1/subscriptions/${id}`, { ordered: true }),
        await h.op.post(`/v1/subscriptions/${id}/pause`),
        await h.op.post(`/v1/subscriptions/${id}/rotate-secret`),
        await h.op.del(`/v1/subscriptions/${id}`),
        await h.op.get('/v1/event-types/no.such.type'),
      ]) {
        expect(res.statusCode).toBe(404);
        expect(res.json()).toMatchObject({ status: 404, title: 'Not found' });
      }
    });
  });

  describe('SSRF at the API', () => {
    const rejected = [
      'https://127.0.0.2/hook',
      // 127.0.0.1 itself is allowlisted in this harness (local subscribers); its neighbours are not
      'https://2130706434/',
      'https://0x7f000002/',
      'https://0177.0.0.2/',
      'https://127.2/',
      'https://%31%32%37.0.0.2/',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[0:0:0:0:0:ffff:a9fe:a9fe]/',
      'https://169.254.169.254/latest/meta-data/',
      'https://0xa9fea9fe/',
      'https://[fd00:ec2::254]/',
      'https://10.0.0.1/',
      'https://172.16.5.4/',
      'https://192.168.1.1/',
      'https://100.64.0.1/',
      'https://0.0.0.0/',
      'https://[fe80::1]/',
      'https://[fc00::1]/',
      'https://[64:ff9b::7f00:1]/',
      'https://[2002:7f00:1::]/',
      'https://localhost/',
      'https://metadata.google.internal/',
      'https://rebind.example.com/',
      'https://internal.example.com/',
      'https://metadata.example.com/',
      'https://mapped.example.com/',
      'https://ula.example.com/',
    ];

    it.each(rejected)('rejects %s', async (endpointUrl) => {
      const res = await h.op.post('/v1/subscriptions', aSubscription({ tenantId: 'ssrf', endpointUrl }));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        title: 'Endpoint not allowed',
        errors: [{ path: 'endpointUrl', message: expect.stringMatching(/URL\.BLOCKED_(ADDRESS|HOST)/) }],
      });
    });

    it('rejects an internal OAuth2 token URL too', async () => {
      const res = await h.op.post(
        '/v1/subscriptions',
        aSubscription({
          tenantId: 'ssrf',
          auth: { type: 'OAUTH2', clientId: 'c', clientSecret: 's', tokenUrl: 'https://169.254.169.254/token' },
        }),
      );
      expect(res.json().errors[0].path).toBe('auth.tokenUrl');
    });

    it('accepts a public-looking https URL and an allowlisted loopback http URL', async () => {
      const publicUrl = await h.op.post(
        '/v1/subscriptions',
        aSubscription({ tenantId: 'ssrf', endpointUrl: 'https://hooks.example.com/webhooks' }),
      );
      expect(publicUrl.statusCode).toBe(201);
      const allowlisted = await h.op.post(
        '/v1/subscriptions',
        aSubscription({ tenantId: 'ssrf', endpointUrl: 'http://127.0.0.1:9999/hook' }),
      );
      expect(allowlisted.statusCode).toBe(201);
    });
  });
});
