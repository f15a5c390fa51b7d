/**
 * End to end across real processes: the real broker (jest global setup), a fresh Postgres database, the four
 * services as child processes started by the same launcher as `npm start` (their built entry points), and real
 * HTTP subscribers on loopback. Needs `npm run build` first (`npm test` does it).
 *
 *   seed:    2 subscriptions for USER CREATE (REST) -> one raw platform event on the ingest topic -> both
 *            subscribers receive it, signatures valid, same webhook-id (= the event id).
 *   failure: subscriber answers 500 -> outbox retries -> DLT -> scheduler retries until exhausted -> FAILED row in
 *            GET /v1/failed-events -> subscriber recovers -> POST replay -> REPLAYED, delivered with the same id.
 *   gRPC:    a subscription created over SubscriptionService; events published over IngestService, unary and
 *            PublishStream -> the subscriber receives each one, signature valid, webhook-id = the event id.
 *   crash:   SIGKILL the outbox-processor -> the launcher restarts it (new pid, /readyz again), the other three
 *            keep their processes -> events produced before, while it was down and after all reach the subscriber.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { generateApiKey } from '../../pipeline/shared/auth/api-key';
import { generateHubKeySpec } from '../../pipeline/shared/crypto/secret-box';
import { IngestServiceClient } from '../../schemas/proto/gen/integrationhub/v1/ingest';
import {
  CreateSubscriptionRequest,
  SubscriptionServiceClient,
} from '../../schemas/proto/gen/integrationhub/v1/subscription';
import { type DemoSubscriber, startDemoSubscriber } from '../../scripts/demo/demo-subscriber';
import { type HubClient, hubClient, waitUntil } from '../../scripts/demo/hub-client';
import { SERVICE_NAMES, type ServiceName } from '../../scripts/hub/services';
import { type Hub, startHub } from '../../scripts/hub/start-hub';
import { aRawEvent, protoEvent } from '../fixtures/platform-events';
import { createTestDatabase } from '../support/db';
import { callAs, insecureClient, publishStream } from '../support/grpc';
import { TEST_NICENESS } from '../support/niceness';

// Each scenario waits on real processes (changelog propagation, retries, the DLT scheduler): minutes at worst on
// a loaded 2-core CI box, seconds usually.
jest.setTimeout(120_000);

const USER_CREATE = { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: 'CREATE' };

function rawUserCreated(tenantId: string, eventId = randomUUID()) {
  return {
    eventId,
    sourceService: 'identity-service',
    eventType: 'user.created',
    resourceType: 'USER',
    operationType: 'CREATE',
    tenantId,
    occurredAt: new Date().toISOString(),
    traceId: randomUUID().replace(/-/g, ''),
    correlationId: randomUUID(),
    payload: { userId: `u-${eventId.slice(0, 8)}`, email: 'ada@example.com' },
  };
}

describe('Integration Hub end to end (four services as separate processes)', () => {
  const logs: string[] = [];
  let hub: Hub;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sub: DemoSubscriber;
  let operator: HubClient;
  let dataDir: string;
  let kafka: Kafka;
  const prefix = `e2e-${randomUUID().slice(0, 8)}`;
  const ingestTopic = `${prefix}.platform.events.v1`;

  beforeAll(async () => {
    db = await createTestDatabase();
    sub = await startDemoSubscriber();
    dataDir = mkdtempSync(join(tmpdir(), 'hub-e2e-'));
    hub = await startHub({
      dataDir,
      kafkaBrokers: process.env.KAFKA_BROKERS!,
      databaseUrl: db.url,
      topicPrefix: prefix,
      ingestTopic,
      partitions: 2,
      ports: { 'subscription-api': 0, 'event-processor': 0, 'outbox-processor': 0, 'dlt-processor': 0 },
      secrets: { HUB_ENCRYPTION_KEYS: generateHubKeySpec('e2e'), OPERATOR_API_KEY: generateApiKey() },
      lock: false,
      writeInfo: false,
      inheritEnv: false,
      env: {
        LOG_LEVEL: 'info',
        // Short schedules so the failure path runs in seconds.
        ...FAST_RETRIES,
        // A SIGKILLed outbox-processor's partitions go to its restarted process once the dead member's session
        // has expired (the minimum the outbox-processor accepts; 30 s by default).
        SESSION_TIMEOUT_MS: '6000',
      },
      niceness: TEST_NICENESS,
      logSink: (service, line) => logs.push(`${service} ${line}`),
      log: (m) => logs.push(m),
      readyTimeoutMs: 60_000,
      stopTimeoutMs: 10_000,
    });
    operator = hubClient(apiUrls(hub), hub.operatorApiKey);
    kafka = new Kafka({
      clientId: `${prefix}-test`,
      brokers: hub.kafka.brokers.split(','),
      logLevel: logLevel.NOTHING,
    });
  }, 180_000);

  afterAll(async () => {
    await hub?.stop();
    await sub?.stop();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** On failure, show what the services logged (the processes are gone after the run). */
  const withLogs = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (err) {
      process.stdout.write(`---- hub logs (last 300 lines) ----\n${logs.slice(-300).join('\n')}\n`);
      throw err;
    }
  };

  async function produceRaw(event: ReturnType<typeof rawUserCreated>) {
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: ingestTopic,
        messages: [
          { key: event.tenantId, value: JSON.stringify(event), headers: { 'content-type': 'application/json' } },
        ],
      });
    } finally {
      await producer.disconnect();
    }
  }

  /**
   * Subscriptions reach the processors through the changelog topic (within about a second). Instead of sleeping,
   * send probe events until every endpoint has received one: then the processors know every subscription.
   */
  async function untilSubscriptionsAreLive(tenantId: string, endpoints: string[]) {
    const probes = new Set<string>();
    const seen = () => endpoints.every((e) => sub.receipts(e).some((r) => probes.has(r.webhookId) && r.status < 300));
    await waitUntil(
      `a probe event at ${endpoints.join(', ')}`,
      async () => {
        if (seen()) return true;
        const probe = rawUserCreated(tenantId);
        probes.add(probe.eventId);
        await produceRaw(probe);
        await new Promise((r) => setTimeout(r, 700));
        return seen();
      },
      45_000,
      0,
    );
  }

  it('is up: every service answers /readyz and serves /metrics', async () => {
    for (const u of Object.values(hub.urls)) {
      expect((await fetch(u.readyz)).status).toBe(200);
      expect(await (await fetch(u.metrics)).text()).toContain('# TYPE');
    }
  });

  it(
    'delivers one USER CREATE event to both matching subscriptions, signed, with the same webhook-id',
    withLogs(async () => {
      const tenantId = `acme-${randomUUID().slice(0, 6)}`;
      const { key } = await operator.createApiKey({ name: 'e2e tenant', role: 'TENANT', tenantId });
      const tenant = hubClient(apiUrls(hub), key);
      for (const name of ['crm', 'billing']) sub.configure(name, {});
      const subs = await Promise.all(
        ['crm', 'billing'].map((name) =>
          tenant.createSubscription({ match: USER_CREATE, endpointUrl: sub.endpointUrl(name) }),
        ),
      );
      for (const [i, s] of subs.entries()) sub.configure(['crm', 'billing'][i]!, { secret: s.signingSecret });
      await untilSubscriptionsAreLive(tenantId, ['crm', 'billing']);

      const event = rawUserCreated(tenantId);
      await produceRaw(event);
      await waitUntil(
        'both deliveries',
        () => sub.deliveredIds('crm').has(event.eventId) && sub.deliveredIds('billing').has(event.eventId),
        30_000,
      );

      for (const endpoint of ['crm', 'billing']) {
        const got = sub.receipts(endpoint).filter((r) => r.webhookId === event.eventId);
        expect(got.length).toBeGreaterThanOrEqual(1); // at-least-once: a retry would carry the same id
        for (const r of got) {
          expect(r).toMatchObject({ signatureValid: true, status: 204 });
          expect(r.ce).toMatchObject({ id: event.eventId, type: 'user.created', tenantid: tenantId });
          expect(JSON.parse(r.body)).toEqual(event.payload);
        }
      }
    }),
  );

  it(
    'delivers events published over gRPC, unary and PublishStream, to a subscription made over gRPC, signed',
    withLogs(async () => {
      const tenantId = `grpc-${randomUUID().slice(0, 6)}`;
      const { key } = await operator.createApiKey({ name: 'e2e gRPC tenant', role: 'TENANT', tenantId });
      const subs = insecureClient(SubscriptionServiceClient, hub.urls['subscription-api'].grpc!);
      const ingest = insecureClient(IngestServiceClient, hub.urls['event-processor'].grpc!);
      try {
        sub.configure('grpc', {});
        const created = await callAs(
          subs,
          subs.createSubscription,
          CreateSubscriptionRequest.fromPartial({
            subscription: { match: USER_CREATE, endpointUrl: sub.endpointUrl('grpc') },
          }),
          key,
        );
        expect(created.subscription!.tenantId).toBe(tenantId);
        sub.configure('grpc', { secret: created.signingSecret });
        await untilSubscriptionsAreLive(tenantId, ['grpc']);

        const event = (n: number) =>
          aRawEvent({
            eventId: randomUUID(),
            tenantId,
            occurredAt: new Date().toISOString(),
            resourceId: `u-grpc-${n}`,
            payload: { userId: `u-grpc-${n}`, n },
          });
        const unaryEvent = event(0);
        expect(await callAs(ingest, ingest.publishEvent, { event: protoEvent(unaryEvent) }, key)).toEqual({
          id: unaryEvent.eventId,
        });
        const streamed = [1, 2, 3].map(event);
        const acks = await publishStream(ingest, key, streamed.map(protoEvent));
        expect(acks.map((a) => [Number(a.sequence), a.result?.id, a.result?.status?.code])).toEqual(
          streamed.map((e, i) => [i, e.eventId, status.OK]),
        );

        const all = [unaryEvent, ...streamed];
        await waitUntil(
          'every gRPC-published event at the subscriber',
          () => all.every((e) => sub.deliveredIds('grpc').has(e.eventId)),
          30_000,
        );
        for (const e of all) {
          const got = sub.receipts('grpc').filter((r) => r.webhookId === e.eventId);
          expect(got.length).toBeGreaterThanOrEqual(1); // at-least-once: a retry would carry the same id
          for (const r of got) {
            expect(r).toMatchObject({ signatureValid: true, status: 204 });
            expect(r.ce).toMatchObject({ id: e.eventId, type: 'user.created', tenantid: tenantId });
            expect(JSON.parse(r.body)).toEqual(e.payload);
          }
        }
      } finally {
        subs.close();
        ingest.close();
      }
    }),
  );

  it(
    'sends a failing subscriber to the DLT, marks it FAILED after the retries, and an operator replay delivers it',
    withLogs(async () => {
      const tenantId = `globex-${randomUUID().slice(0, 6)}`;
      const { key } = await operator.createApiKey({ name: 'e2e tenant', role: 'TENANT', tenantId });
      const tenant = hubClient(apiUrls(hub), key);
      sub.configure('flaky', {});
      const s = await tenant.createSubscription({ match: USER_CREATE, endpointUrl: sub.endpointUrl('flaky') });
      sub.configure('flaky', { secret: s.signingSecret });
      await untilSubscriptionsAreLive(tenantId, ['flaky']);

      sub.configure('flaky', { failing: true });
      const event = rawUserCreated(tenantId);
      await produceRaw(event);

      const failed = await waitUntil(
        'a FAILED row for the event',
        async () =>
          (await operator.listFailedEvents({ subscriptionId: s.id })).find(
            (f) => f.eventId === event.eventId && f.status === 'FAILED',
          ),
        45_000,
        300,
      );
      const attemptsAtSubscriber = sub.receipts('flaky').filter((r) => r.webhookId === event.eventId);
      expect(attemptsAtSubscriber.length).toBeGreaterThanOrEqual(2); // outbox attempts + scheduled retries
      expect(attemptsAtSubscriber.every((r) => r.status === 500 && r.signatureValid)).toBe(true);
      // A tenant sees its own failures through the same API.
      expect((await tenant.listFailedEvents({})).map((f) => f.id)).toContain(failed.id);

      sub.configure('flaky', { failing: false });
      await operator.replay(failed.id);

      await waitUntil('the replayed delivery', () => sub.deliveredIds('flaky').has(event.eventId), 20_000);
      const row = await waitUntil(
        'status REPLAYED',
        async () => {
          const r = await operator.getFailedEvent(failed.id);
          return r.status === 'REPLAYED' ? r : undefined;
        },
        20_000,
      );
      expect(row.eventId).toBe(event.eventId);
      const delivered = sub.receipts('flaky').filter((r) => r.webhookId === event.eventId && r.status === 204);
      expect(delivered).toHaveLength(1);
      expect(delivered[0]).toMatchObject({ signatureValid: true, ce: { id: event.eventId } });
    }),
  );

  it(
    'restarts a SIGKILLed outbox-processor, keeps the other services running, and delivers every event',
    withLogs(async () => {
      const tenantId = `initech-${randomUUID().slice(0, 6)}`;
      const { key } = await operator.createApiKey({ name: 'e2e tenant', role: 'TENANT', tenantId });
      const tenant = hubClient(apiUrls(hub), key);
      sub.configure('steady', {});
      const s = await tenant.createSubscription({ match: USER_CREATE, endpointUrl: sub.endpointUrl('steady') });
      sub.configure('steady', { secret: s.signingSecret });
      await untilSubscriptionsAreLive(tenantId, ['steady']);

      const pid = (n: ServiceName) => hub.instances(n)[0]!.child.pid!;
      const others = SERVICE_NAMES.filter((n) => n !== 'outbox-processor');
      const before = new Map(others.map((n) => [n, pid(n)]));
      const killed = pid('outbox-processor');
      const restartsBefore = hub.restarts('outbox-processor');

      const early = rawUserCreated(tenantId);
      await produceRaw(early);
      await waitUntil('the event before the crash', () => sub.deliveredIds('steady').has(early.eventId), 30_000);

      process.kill(killed, 'SIGKILL');
      // Produced while the outbox-processor is down (its backoff, its start-up): waits in the outbox topic.
      const during = rawUserCreated(tenantId);
      await produceRaw(during);
      await waitUntil(
        'the launcher to restart the outbox-processor',
        () => logs.some((l) => l.startsWith('hub: outbox-processor is ready again')),
        60_000,
      );
      expect(pid('outbox-processor')).not.toBe(killed);
      expect((await fetch(hub.urls['outbox-processor'].readyz)).status).toBe(200);
      expect(hub.restarts('outbox-processor')).toBe(restartsBefore + 1);
      expect(logs).toContain('hub: outbox-processor killed by SIGKILL; restarting it in 0.5 s (attempt 1, restart 1)');

      const after = rawUserCreated(tenantId);
      await produceRaw(after);
      await waitUntil(
        'the events produced during and after the crash',
        () => sub.deliveredIds('steady').has(during.eventId) && sub.deliveredIds('steady').has(after.eventId),
        60_000,
      );
      for (const e of [early, during, after]) {
        const got = sub.receipts('steady').filter((r) => r.webhookId === e.eventId && r.status === 204);
        expect(got.length).toBeGreaterThanOrEqual(1); // at-least-once: a redelivery after the crash has the same id
        expect(got.every((r) => r.signatureValid)).toBe(true);
      }
      // The other services were never restarted.
      for (const n of others) expect(pid(n)).toBe(before.get(n));
      expect(others.map((n) => hub.restarts(n))).toEqual([0, 0, 0]);
    }),
  );

  it('keeps secrets out of every service log line', () => {
    const all = logs.join('\n');
    expect(all).not.toContain(hub.operatorApiKey);
    expect(all).not.toContain(hub.env.HUB_ENCRYPTION_KEYS!.split(':')[1]);
    expect(all).not.toMatch(/whsec_[A-Za-z0-9+/=]{20,}/);
    expect(all).not.toContain(sub.oauthClient.clientSecret);
  });
});

/**
 * Environment that shortens retry schedules (names from each service's config.ts): the outbox-processor's
 * in-process attempts (MAX_ATTEMPTS / RETRY_BASE_MS / RETRY_MAX_MS), the durable schedule the dlt-processor runs
 * (DELIVERY_RETRY_SCHEDULE, two steps of 1 s), its scheduler polling every 250 ms.
 */
const FAST_RETRIES: Record<string, string> = {
  MAX_ATTEMPTS: '2',
  RETRY_BASE_MS: '100',
  RETRY_MAX_MS: '300',
  DELIVERY_RETRY_SCHEDULE: '1s,1s',
  SCHEDULER_INTERVAL_MS: '250',
};

function apiUrls(hub: Hub) {
  return {
    subscriptionApi: hub.urls['subscription-api'].url,
    eventApi: hub.urls['event-processor'].url,
    dltApi: hub.urls['dlt-processor'].url,
  };
}
