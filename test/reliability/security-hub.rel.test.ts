/**
 * Scenarios 9, 11 and 10 on one hub (the four services as real processes, loopback allowlisted for the real
 * subscribers on this machine):
 *
 *   9  signing conformance: the signer against the `standardwebhooks` reference verifier on random payloads
 *      (pure calls), then real deliveries to a real subscriber verified the same way, before and during a
 *      secret-rotation window (two signatures; each secret alone verifies).
 *   11 tenant isolation: tenant A's key against every route of the three APIs' OpenAPI documents, given tenant
 *      B's ids -> 403/404, B's data unchanged; a route without an entry in the table fails the scenario.
 *      The same over gRPC: every method of SubscriptionService, EventTypeService and IngestService ->
 *      PERMISSION_DENIED / NOT_FOUND, no foreign data in any answer, nothing produced (the ingest topic grows by
 *      A's sentinel alone). Rate
 *      limits answer 429 + Retry-After, oversized bodies 413.
 *   10 secrets (last, so it covers everything the hub did in this file): subscriptions with every auth type
 *      delivered for real (one of them through the DLT), then the database (every table, row_to_json), every
 *      Kafka record of the run (keys, headers, values, aborted transactions included) and every service log line
 *      must contain none of the secrets, tokens, keys or Authorization header values in plaintext (nor hex).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { WebSocket } from 'ws';
import { IngestServiceClient } from '../../schemas/proto/gen/integrationhub/v1/ingest';
import { type DemoSubscriber, startDemoSubscriber } from '../../scripts/demo/demo-subscriber';
import { callAs, insecureClient, protoCloudEvent } from '../../scripts/demo/grpc-client';
import { waitUntil } from '../../scripts/demo/hub-client';
import { rawRecord } from '../fixtures/platform-events';
import { consumeAll } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { pick } from './profile';
import { recordScenario } from './report';
import { grpcIsolation } from './support/security-grpc';
import { aUserCreated, type SecurityHub, startSecurityHub, USER_CREATE, untilLive } from './support/security-hub';
import { type Call, callRoute, openApiRoutes, type RouteCase, tenantIsolationTable } from './support/security-routes';
import { randomPayload, signerConformance, verifyReceived } from './support/security-signing';

jest.setTimeout(300_000);

const RATE_LIMIT = 300;

describe('reliability 9-11: signing, tenant isolation, secrets', () => {
  let h: SecurityHub;
  let rx: Receiver;
  let demo: DemoSubscriber;
  /** Every secret the run handles, by what it is. */
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    rx = await startReceiver((r, res) => {
      if (r.path.startsWith('/failing')) res.writeHead(500).end('failing on purpose');
      else res.writeHead(204).end();
    });
    demo = await startDemoSubscriber();
    h = await startSecurityHub({
      name: 'rel-sec',
      env: { RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), LOG_LEVEL: 'debug' },
    });
    secrets.set('operator API key', h.hub.operatorApiKey);
    secrets.set('hub encryption key', h.hub.env.HUB_ENCRYPTION_KEYS!.split(':')[1]!);
    secrets.set('OAuth2 client secret', demo.oauthClient.clientSecret);
    // What the hub sends the token endpoint: Authorization: Basic base64(urlencoded id ":" urlencoded secret).
    const { clientId, clientSecret } = demo.oauthClient;
    secrets.set(
      'OAuth2 token request Authorization value',
      Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64'),
    );
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
    await rx?.close();
    await demo?.stop();
  }, 60_000);

  const receivedAt = (path: string) => rx.received.filter((r) => r.path === path);
  const deliveredTo = (path: string) => (id: string) => receivedAt(path).some((r) => r.headers['webhook-id'] === id);

  it('9: signatures verify with the standardwebhooks library (random payloads, real deliveries, rotation)', () =>
    h.withLogs(async () => {
      const pure = signerConformance(pick(2_000, 10_000));

      const t = await h.tenant();
      secrets.set('tenant key (signing)', t.key);
      const s = await t.client.createSubscription({ match: USER_CREATE, endpointUrl: `${rx.url}/sign` });
      secrets.set('signing secret', s.signingSecret);
      await untilLive(h, t.tenantId, deliveredTo('/sign'));

      const m = pick(100, 500);
      const sent = Array.from({ length: m }, () => aUserCreated(t.tenantId, { payload: randomPayload() }));
      await h.produce(sent.map((e) => rawRecord(e)));
      await waitUntil('every signed delivery', () => sent.every((e) => deliveredTo('/sign')(e.eventId)), 60_000);
      const ids = new Set(sent.map((e) => e.eventId));
      const real = receivedAt('/sign').filter((r) => ids.has(String(r.headers['webhook-id'])));
      const realValid = real.filter((r) => verifyReceived(s.signingSecret, r.headers, r.body)).length;

      // Rotation: the processors learn the new secret from the changelog; from then on two signatures.
      const rotated = await rotate(h, t.key, s.id);
      secrets.set('rotated signing secret', rotated);
      const rotation = Array.from({ length: pick(20, 100) }, () =>
        aUserCreated(t.tenantId, { payload: randomPayload() }),
      );
      await waitUntil(
        'deliveries with two signatures',
        async () => {
          const probe = aUserCreated(t.tenantId);
          await h.produce([rawRecord(probe)]);
          await new Promise((r) => setTimeout(r, 500));
          return receivedAt('/sign').some(
            (r) => r.headers['webhook-id'] === probe.eventId && String(r.headers['webhook-signature']).includes(' '),
          );
        },
        60_000,
        0,
      );
      await h.produce(rotation.map((e) => rawRecord(e)));
      await waitUntil(
        'the rotation-window deliveries',
        () => rotation.every((e) => deliveredTo('/sign')(e.eventId)),
        60_000,
      );
      const rotIds = new Set(rotation.map((e) => e.eventId));
      const inWindow = receivedAt('/sign').filter((r) => rotIds.has(String(r.headers['webhook-id'])));
      const eachAlone = inWindow.filter(
        (r) =>
          String(r.headers['webhook-signature']).split(' ').length === 2 &&
          verifyReceived(rotated, r.headers, r.body) &&
          verifyReceived(s.signingSecret, r.headers, r.body),
      ).length;

      const pass =
        pure.verified === pure.payloads &&
        pure.tamperedRejected === pure.payloads &&
        pure.skewedRejected === pure.skewed &&
        pure.nearAccepted === pure.near &&
        pure.rotationOk === pure.rotation &&
        real.length >= m &&
        realValid === real.length &&
        inWindow.length >= rotation.length &&
        eachAlone === inWindow.length;
      recordScenario({
        id: 'signing-conformance',
        order: 9,
        title: 'Signing conformance (standardwebhooks)',
        pass,
        figures: {
          'signer payloads': pure.payloads,
          verified: pure.verified,
          'tampered rejected': pure.tamperedRejected,
          'outside ±5 min rejected': `${pure.skewedRejected}/${pure.skewed}`,
          'inside window accepted': `${pure.nearAccepted}/${pure.near}`,
          'rotation pairs ok': `${pure.rotationOk}/${pure.rotation}`,
          'real deliveries verified': `${realValid}/${real.length}`,
          'rotation-window deliveries, each secret alone': `${eachAlone}/${inWindow.length}`,
        },
        criteria:
          'every signature verifies; every tampered body and every timestamp outside ±5 min is rejected; in a rotation window each secret verifies alone',
      });
      expect(pure.verified).toBe(pure.payloads);
      expect(pure.tamperedRejected).toBe(pure.payloads);
      expect(pure.skewedRejected).toBe(pure.skewed);
      expect(pure.nearAccepted).toBe(pure.near);
      expect(pure.rotationOk).toBe(pure.rotation);
      expect(real.length).toBeGreaterThanOrEqual(m);
      expect(realValid).toBe(real.length);
      expect(inWindow.length).toBeGreaterThanOrEqual(rotation.length);
      expect(eachAlone).toBe(inWindow.length);
    }));

  it('11: tenant A gets 403/404 on every route given tenant B ids; 429 with Retry-After; 413', () =>
    h.withLogs(async () => {
      h.step('11: tenants and B data');
      const a = await h.tenant();
      const b = await h.tenant();
      secrets.set('tenant A key', a.key);
      secrets.set('tenant B key', b.key);
      // B's world: an event type (operator), a live subscription, a failing one with FAILED rows, a replay job.
      const eventType = `rel.isolation.${randomUUID().slice(0, 6)}`;
      await h.operator.ensureEventType({ name: eventType, domain: 'user-lifecycle' });
      const bSub = await b.client.createSubscription({ match: USER_CREATE, endpointUrl: `${rx.url}/b-ok` });
      const bKey = `k-${randomBytes(16).toString('hex')}`;
      secrets.set('APIKEY key (failing)', bKey);
      const bFailing = await b.client.createSubscription({
        match: USER_CREATE,
        endpointUrl: `${rx.url}/failing`,
        auth: { type: 'APIKEY', headerName: 'x-api-key', key: bKey },
      });
      secrets.set('signing secret B', bSub.signingSecret);
      secrets.set('signing secret B failing', bFailing.signingSecret);
      await untilLive(h, b.tenantId, deliveredTo('/b-ok'));
      h.step('11: a FAILED row for B');
      const failedEvent = aUserCreated(b.tenantId);
      await h.produce([rawRecord(failedEvent)]);
      const bFailed = await waitUntil(
        "a FAILED row of tenant B's failing subscription",
        async () =>
          (await b.client.listFailedEvents({ subscriptionId: bFailing.id })).find(
            (f) => f.eventId === failedEvent.eventId && f.status === 'FAILED',
          ),
        60_000,
        1_000,
      );
      h.step('11: a replay job for B');
      const bJob = await callRoute(h.urls, b.key, {
        method: 'POST',
        api: 'dltApi',
        path: '/v1/failed-events/replay',
        body: { subscriptionId: bFailing.id, dryRun: false },
      });
      const bJobId = (JSON.parse(bJob.text) as { id?: string }).id ?? 'missing-job-id';
      const bBefore = await callRoute(h.urls, b.key, {
        method: 'GET',
        api: 'subscriptionApi',
        path: `/v1/subscriptions/${bSub.id}`,
      });

      h.step('11: an inbound source for B');
      const bInbound = await callRoute(h.urls, b.key, {
        method: 'POST',
        api: 'subscriptionApi',
        path: '/v1/inbound-sources',
        body: { name: 'b github', verification: { scheme: 'GITHUB' } },
      });
      const bInboundSource = JSON.parse(bInbound.text) as { id?: string; secret?: { value?: string } };
      if (bInboundSource.secret?.value) secrets.set('inbound secret B', bInboundSource.secret.value);

      const ctx = {
        a,
        b,
        bInboundSourceId: bInboundSource.id ?? 'missing-inbound-source-id',
        bSubscriptionId: bSub.id,
        bApiKeyId: b.keyId,
        bFailedEventId: bFailed.id,
        bReplayJobId: bJobId,
        eventType,
        rxUrl: rx.url,
      };
      h.step('11: cross-tenant calls');
      const table = tenantIsolationTable(ctx);
      const routes = await openApiRoutes(h.urls);
      const untested = routes.filter((r) => !table.has(r));
      const results: { route: string; status: number; ok: boolean }[] = [];
      for (const route of routes) {
        const c: RouteCase | undefined = table.get(route);
        if (!c) continue;
        for (const call of c.calls) {
          const res = await callRoute(h.urls, a.key, call);
          results.push({
            route: `${route} ${call.note ?? ''}`.trim(),
            status: res.status,
            ok: (call.expect ?? c.expect).includes(res.status) && (call.check ?? c.check)(res),
          });
        }
      }
      const denied = results.filter((r) => r.ok);
      const leaks = results.filter((r) => !r.ok);

      h.step('11: cross-tenant gRPC calls');
      const eventTypeBefore = await callRoute(h.urls, a.key, {
        method: 'GET',
        api: 'subscriptionApi',
        path: `/v1/event-types/${eventType}`,
      });
      const ingestBefore = await ingestTopicEnd(h);
      const grpc = grpcIsolation(
        { subscriptionApi: h.hub.urls['subscription-api'].grpc!, eventApi: h.hub.urls['event-processor'].grpc! },
        {
          a,
          b,
          bSubscriptionId: bSub.id,
          eventType,
          foreign: [
            bSub.signingSecret,
            bFailing.signingSecret,
            bKey,
            `${rx.url}/b-ok`,
            `${rx.url}/failing`,
            bFailing.id,
          ],
        },
      );
      const grpcResults = await grpc.run().finally(() => grpc.close());
      const grpcLeaks = grpcResults.filter((r) => !r.ok);
      // The sentinel: A's own event, acked once on the ingest topic; then the topic holds it and nothing else new.
      const sentinel = insecureClient(IngestServiceClient, h.hub.urls['event-processor'].grpc!);
      const acked = await callAs(
        sentinel,
        sentinel.publishEvent,
        {
          event: protoCloudEvent({
            specversion: '1.0',
            id: `iso-sentinel-${randomUUID()}`,
            source: '//identity',
            type: 'user.created',
            tenantid: a.tenantId,
            sourceservice: 'identity',
            resourcetype: 'USER',
            operationtype: 'CREATE',
          }),
        },
        a.key,
      ).finally(() => sentinel.close());
      const grpcProduced = (await ingestTopicEnd(h)) - ingestBefore - (acked.id ? 1 : 0);
      const eventTypeAfter = await callRoute(h.urls, a.key, {
        method: 'GET',
        api: 'subscriptionApi',
        path: `/v1/event-types/${eventType}`,
      });
      const eventTypeUnchanged = eventTypeBefore.status === 200 && eventTypeAfter.text === eventTypeBefore.text;

      // B's data unchanged by all of that.
      const bAfter = await callRoute(h.urls, b.key, {
        method: 'GET',
        api: 'subscriptionApi',
        path: `/v1/subscriptions/${bSub.id}`,
      });
      const bFailedAfter = await b.client.getFailedEvent(bFailed.id);
      const bKeyStillWorks =
        (await callRoute(h.urls, b.key, { method: 'GET', api: 'subscriptionApi', path: '/v1/subscriptions' }))
          .status === 200;
      const bUnchanged =
        bAfter.status === 200 && bAfter.text === bBefore.text && bKeyStillWorks && bFailedAfter.status !== undefined;

      h.step('11: rate limits');
      // 429 + Retry-After on each API, with a key of its own.
      const c = await h.tenant();
      secrets.set('tenant C key', c.key);
      const limited = await Promise.all(
        (
          [
            { method: 'GET', api: 'subscriptionApi', path: '/v1/subscriptions' },
            { method: 'GET', api: 'dltApi', path: '/v1/failed-events/stats' },
            { method: 'POST', api: 'eventApi', path: '/v1/events', body: {} },
          ] as Call[]
        ).map(async (call) => {
          for (let i = 0; i < RATE_LIMIT + 20; i++) {
            const res = await callRoute(h.urls, c.key, call);
            if (res.status === 429)
              return {
                api: call.api,
                after: i,
                retryAfter: Number(res.headers['retry-after']),
                problem: res.headers['content-type']?.startsWith('application/problem+json'),
              };
          }
          return { api: call.api, after: -1, retryAfter: Number.NaN, problem: false };
        }),
      );
      const rateLimited = limited.filter((l) => l.after >= 0 && l.retryAfter > 0 && l.problem).length;

      h.step('11: body limits');
      // 413 on each API (beyond its body limit).
      const d = await h.tenant();
      const oversized = await Promise.all(
        (
          [
            {
              method: 'POST',
              api: 'subscriptionApi',
              path: '/v1/subscriptions',
              body: { description: 'x'.repeat(200_000), match: USER_CREATE, endpointUrl: `${rx.url}/x` },
            },
            {
              method: 'POST',
              api: 'dltApi',
              path: '/v1/failed-events/replay',
              body: { eventType: 'x'.repeat(2_000_000) },
            },
            {
              method: 'POST',
              api: 'eventApi',
              path: '/v1/events',
              raw: Buffer.alloc(6 * 1024 * 1024, 0x61),
              contentType: 'application/cloudevents+json',
            },
          ] as Call[]
        ).map(async (call) => {
          const res = await callRoute(h.urls, d.key, call);
          return {
            api: call.api,
            status: res.status,
            problem: res.headers['content-type']?.startsWith('application/problem+json') ?? false,
          };
        }),
      );
      const tooLarge = oversized.filter((o) => o.status === 413 && o.problem).length;

      h.step('11: the WebSocket stream');
      // GET /v1/stream (a WebSocket, not in the OpenAPI documents): A naming B, or asking for the hub's facts, is
      // refused before the upgrade; so is a key in the URL.
      const streamUrl = `${h.urls.dltApi.replace(/^http/, 'ws')}/v1/stream`;
      const streamRefusals = [
        await refusedUpgrade(`${streamUrl}?tenantId=${b.tenantId}`, { authorization: `Bearer ${a.key}` }),
        await refusedUpgrade(`${streamUrl}?source=facts`, { authorization: `Bearer ${a.key}` }),
        await refusedUpgrade(`${streamUrl}?tenantId=${b.tenantId}&apiKey=${a.key}`),
      ];
      const streamDenied = streamRefusals[0] === 403 && streamRefusals[1] === 403 && streamRefusals[2] === 401;

      const pass =
        untested.length === 0 &&
        leaks.length === 0 &&
        grpc.untested.length === 0 &&
        grpcLeaks.length === 0 &&
        grpcProduced === 0 &&
        eventTypeUnchanged &&
        bUnchanged &&
        rateLimited === 3 &&
        tooLarge === 3 &&
        streamDenied;
      recordScenario({
        id: 'tenant-isolation',
        order: 11,
        title: 'Tenant isolation, rate limits, body limits',
        pass,
        figures: {
          'routes in OpenAPI documents': routes.length,
          'routes without a case': untested.length,
          'cross-tenant calls': results.length,
          'denied (403/404) or tenant-free': denied.length,
          leaks: leaks.length,
          'gRPC methods without a case': grpc.untested.length,
          'gRPC cross-tenant calls': grpcResults.length,
          'gRPC denied (PERMISSION_DENIED/NOT_FOUND) or tenant-free': grpcResults.length - grpcLeaks.length,
          'gRPC leaks': grpcLeaks.length,
          'records produced by refused gRPC ingest': grpcProduced,
          'event type unchanged': eventTypeUnchanged,
          'tenant B data unchanged': bUnchanged,
          'APIs answering 429 + Retry-After': `${rateLimited}/3`,
          'stream upgrades refused (B named 403, facts 403, key in URL 401)': streamRefusals.join('/'),
          'APIs answering 413': `${tooLarge}/3`,
        },
        criteria:
          'every route of every OpenAPI document and every gRPC method has a case; every cross-tenant call 403/404 (PERMISSION_DENIED/NOT_FOUND), no foreign data, nothing produced; 429 with Retry-After and 413 problem+json on each API',
      });
      expect(untested).toEqual([]);
      expect(leaks).toEqual([]);
      expect(grpc.untested).toEqual([]);
      expect(grpcLeaks).toEqual([]);
      expect(grpcResults.length).toBeGreaterThanOrEqual(17);
      expect(grpcProduced).toBe(0);
      expect(eventTypeUnchanged).toBe(true);
      expect(bUnchanged).toBe(true);
      expect(limited).toEqual(
        limited.map((l) => ({ ...l, after: expect.any(Number), retryAfter: expect.any(Number), problem: true })),
      );
      expect(rateLimited).toBe(3);
      expect(oversized.map((o) => [o.api, o.status, o.problem])).toEqual(oversized.map((o) => [o.api, 413, true]));
    }));

  it('10: no secret, token, key or Authorization value in the database, on any topic or in any log', () =>
    h.withLogs(async () => {
      const t = await h.tenant();
      secrets.set('tenant key (auth)', t.key);
      const password = `pw-${randomBytes(18).toString('base64url')}`;
      const jwt = `eyJhbGciOiJIUzI1NiJ9.${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      const apiKey = `ak-${randomBytes(24).toString('hex')}`;
      secrets.set('BASIC password', password);
      secrets.set('BASIC Authorization value', Buffer.from(`svc:${password}`).toString('base64'));
      secrets.set('JWT token', jwt);
      secrets.set('APIKEY key', apiKey);
      const auths = {
        basic: { type: 'BASIC', username: 'svc', password },
        oauth: {
          type: 'OAUTH2',
          clientId: demo.oauthClient.clientId,
          clientSecret: demo.oauthClient.clientSecret,
          tokenUrl: demo.tokenUrl,
        },
        jwt: { type: 'JWT', token: jwt },
        apikey: { type: 'APIKEY', headerName: 'x-api-key', key: apiKey },
      };
      for (const [name, auth] of Object.entries(auths)) {
        const s = await t.client.createSubscription({
          match: USER_CREATE,
          endpointUrl: `${rx.url}/auth-${name}`,
          auth,
        });
        secrets.set(`signing secret ${name}`, s.signingSecret);
      }
      // One more with auth that fails at the subscriber: its secrets travel the DLT path and land in Postgres.
      const failing = await t.client.createSubscription({
        match: USER_CREATE,
        endpointUrl: `${rx.url}/failing-auth`,
        auth: { type: 'BASIC', username: 'svc', password },
      });
      secrets.set('signing secret failing', failing.signingSecret);
      await untilLive(h, t.tenantId, (id) => Object.keys(auths).every((n) => deliveredTo(`/auth-${n}`)(id)));
      const events = Array.from({ length: pick(10, 100) }, () => aUserCreated(t.tenantId));
      await h.produce(events.map((e) => rawRecord(e)));
      await waitUntil(
        'deliveries with every auth type',
        () => events.every((e) => Object.keys(auths).every((n) => deliveredTo(`/auth-${n}`)(e.eventId))),
        60_000,
      );
      await waitUntil(
        'FAILED rows of the failing auth subscription',
        async () => (await t.client.listFailedEvents({ subscriptionId: failing.id, status: 'FAILED' })).length >= 1,
        60_000,
        1_000,
      );
      // Every Authorization / API-key value the subscriber saw (OAuth2 tokens included).
      for (const r of rx.received) {
        const auth = r.headers.authorization;
        if (auth)
          secrets.set(`Authorization value ${auth.slice(0, 12)}…${secrets.size}`, auth.replace(/^(Basic|Bearer) /, ''));
        const key = r.headers['x-api-key'];
        if (typeof key === 'string') secrets.set('x-api-key value', key);
      }
      const oauthTokens = rx.received.filter(
        (r) => r.path === '/auth-oauth' && r.headers.authorization?.startsWith('Bearer '),
      );
      const expectedAuth = {
        basic: rx.received.some(
          (r) =>
            r.path === '/auth-basic' && r.headers.authorization === `Basic ${secrets.get('BASIC Authorization value')}`,
        ),
        oauth: oauthTokens.length > 0 && demo.tokensIssued() > 0,
        jwt: rx.received.some((r) => r.path === '/auth-jwt' && r.headers.authorization === `Bearer ${jwt}`),
        apikey: rx.received.some((r) => r.path === '/auth-apikey' && r.headers['x-api-key'] === apiKey),
      };

      const db = await dumpDatabase(h.db.url);
      const kafkaDump = await dumpTopics(h);
      const logs = h.logs.join('\n');
      const found: string[] = [];
      for (const [what, value] of secrets) {
        const hex = Buffer.from(value).toString('hex');
        if (db.text.includes(value) || db.text.includes(hex)) found.push(`${what} in the database`);
        if (kafkaDump.text.includes(value) || kafkaDump.text.includes(hex)) found.push(`${what} on Kafka`);
        if (logs.includes(value)) found.push(`${what} in the logs`);
      }
      // Positive control: the scan sees what is there (the tenant id is in all three, and so would be a secret).
      const control = {
        db: db.text.includes(t.tenantId),
        kafka: kafkaDump.text.includes(t.tenantId),
        logs: logs.includes(t.tenantId),
      };
      const pass =
        found.length === 0 && Object.values(expectedAuth).every(Boolean) && Object.values(control).every(Boolean);
      recordScenario({
        id: 'secrets',
        order: 10,
        title: 'Secrets never in plaintext (DB, Kafka, logs)',
        pass,
        figures: {
          'secret values checked': secrets.size,
          'auth types delivered': Object.entries(expectedAuth)
            .filter(([, ok]) => ok)
            .map(([k]) => k)
            .join(','),
          'oauth tokens issued': demo.tokensIssued(),
          'db tables': db.tables,
          'db rows': db.rows,
          'kafka topics': kafkaDump.topics,
          'kafka records': kafkaDump.records,
          'log lines': h.logs.length,
          'plaintext findings': found.length,
          'scan control (tenant id found in db/kafka/logs)': Object.values(control).every(Boolean),
        },
        criteria:
          'none of the secrets, tokens, keys or Authorization values appear in the DB dump, any Kafka record or any log line',
      });
      expect(expectedAuth).toEqual({ basic: true, oauth: true, jwt: true, apikey: true });
      expect(found).toEqual([]);
      expect(control).toEqual({ db: true, kafka: true, logs: true });
      expect(db.rows).toBeGreaterThan(0);
      expect(kafkaDump.records).toBeGreaterThan(0);
    }));
});

async function rotate(h: SecurityHub, key: string, id: string): Promise<string> {
  const res = await callRoute(h.urls, key, {
    method: 'POST',
    api: 'subscriptionApi',
    path: `/v1/subscriptions/${id}/rotate-secret`,
  });
  if (res.status !== 200) throw new Error(`rotate-secret answered ${res.status}: ${res.text}`);
  return (JSON.parse(res.text) as { signingSecret: string }).signingSecret;
}

/** Every row of every table of the public schema as JSON text. */
async function dumpDatabase(url: string): Promise<{ text: string; tables: number; rows: number }> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const tables = (
      await c.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      )
    ).rows.map((r) => r.table_name);
    const parts: string[] = [];
    let rows = 0;
    for (const t of tables) {
      const res = await c.query<{ j: string }>(`SELECT row_to_json(x)::text AS j FROM "${t}" x`);
      rows += res.rows.length;
      for (const r of res.rows) parts.push(r.j);
    }
    return { text: parts.join('\n'), tables: tables.length, rows };
  } finally {
    await c.end();
  }
}

/** Every record (read_uncommitted: aborted transactions too) of every topic of the run. */
async function dumpTopics(h: SecurityHub): Promise<{ text: string; topics: number; records: number }> {
  const admin = h.kafka.admin();
  await admin.connect();
  let topics: string[];
  try {
    topics = (await admin.listTopics()).filter((t) => t.startsWith(`${h.prefix}.`));
  } finally {
    await admin.disconnect();
  }
  // Transaction markers take offsets too, so "high - low" over-counts: read until nothing new came for a while.
  const records = await consumeAll(topics, { count: 1, settleMs: 4_000, readUncommitted: true, timeoutMs: 60_000 });
  const text = records
    .map(
      (r) =>
        `${r.topic} ${r.key ?? ''} ${Object.entries(r.headers)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')} ${r.value?.toString('utf8') ?? ''}`,
    )
    .join('\n');
  return { text, topics: topics.length, records: records.length };
}

/** Sum of the ingest topic's partition end offsets. */
async function ingestTopicEnd(h: SecurityHub): Promise<number> {
  const admin = h.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(h.hub.topics.ingest)).reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** The status answered instead of a WebSocket upgrade (0 when the socket failed without one). */
function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`${url}: upgraded`));
    });
    ws.on('error', () => resolve(0));
  });
}
