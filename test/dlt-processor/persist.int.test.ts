/** DLT topic -> Postgres: idempotent persistence, malformed records, and a Postgres outage without loss. */
import { Client } from 'pg';
import type { FailureStore } from '../../pipeline/shared/parked/failure-store';
import { HUB_HEADERS } from '../../pipeline/shared/topics';
import { adminUrl } from '../support/db';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(90_000);

describe('dlt-processor persistence', () => {
  let hub: DltHarness;
  let r: Receiver;
  beforeAll(async () => {
    // No scheduler: rows stay exactly as the consumer stored them.
    hub = await startDltHarness({ scheduler: false });
    r = await startReceiver();
  });
  afterAll(async () => {
    await hub.stop();
    await r.close();
  });
  const row = (eventId: string) => hub.db.prisma.failedEvent.findFirst({ where: { eventId } });

  it('stores a DLT record with its event, headers, failure details and the outbox attempt', async () => {
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent('tenant-a', { type: 'user.deleted' });
    await hub.deadLetter(event, sub.id, { domain: 'access', code: 'DELIVERY.HTTP_503', status: 503 });
    const stored = await waitFor(() => row(event.id), { what: 'stored row' });
    expect(stored).toMatchObject({
      subscriptionId: sub.id,
      tenantId: 'tenant-a',
      domain: 'access',
      eventType: 'user.deleted',
      status: 'PENDING',
      attempts: 0,
      lastStatusCode: 503,
      lastErrorCode: 'DELIVERY.HTTP_503',
      sourceTopic: hub.topics.dlt('access'),
    });
    expect(stored.nextAttemptAt).not.toBeNull();
    // Timestamps are stored as UTC: they read back as the instants the headers carry, and "due now" is now.
    const headers = stored.failureHeaders as Record<string, string>;
    expect(stored.firstFailedAt.toISOString()).toBe(headers[HUB_HEADERS.dltFirstAttemptAt]);
    expect(stored.lastFailedAt.toISOString()).toBe(headers[HUB_HEADERS.dltLastAttemptAt]);
    expect(Math.abs(stored.nextAttemptAt!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(Buffer.from(stored.body).toString()).toBe(event.data.toString());
    expect(stored.ceHeaders).toMatchObject({ ce_id: event.id, ce_type: 'user.deleted', 'hub-subscription-id': sub.id });
    expect(stored.failureHeaders).toMatchObject({
      'hub-dlt-attempts': '3',
      'hub-dlt-last-error-code': 'DELIVERY.HTTP_503',
    });
    const attempts = await hub.db.prisma.deliveryAttempt.findMany({ where: { failedEventId: stored.id } });
    expect(attempts).toEqual([
      expect.objectContaining({ source: 'OUTBOX', statusCode: 503, errorCode: 'DELIVERY.HTTP_503' }),
    ]);
    expect(attempts[0]!.attemptedAt.toISOString()).toBe(headers[HUB_HEADERS.dltLastAttemptAt]);
  });

  it('updates rather than duplicates when the same failure reaches the DLT again', async () => {
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.HTTP_500', status: 500 });
    await waitFor(() => row(event.id));
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.TIMEOUT', status: 0 });
    await waitFor(async () => (await row(event.id))?.lastErrorCode === 'DELIVERY.TIMEOUT', { what: 'updated row' });
    expect(await hub.db.prisma.failedEvent.count({ where: { eventId: event.id } })).toBe(1);
    const stored = (await row(event.id))!;
    expect(stored.status).toBe('PENDING');
    // Two DLT records, two outbox attempt entries; one row.
    expect(await hub.db.prisma.deliveryAttempt.count({ where: { failedEventId: stored.id } })).toBe(2);
  });

  it('stores malformed records as FAILED with the reason and keeps consuming the partition', async () => {
    const sub = await hub.subscribe({ endpointUrl: r.url });
    // Same key (tenant-m) -> same partition: the good record comes after the malformed ones.
    await hub.deadLetter(anEvent('tenant-m'), sub.id, {
      raw: { value: Buffer.from('not a cloudevent'), headers: { 'hub-tenant-id': 'tenant-m' } },
    });
    const noSub = anEvent('tenant-m');
    await hub.deadLetter(noSub, sub.id, {
      raw: {
        value: noSub.data,
        headers: { ce_specversion: '1.0', ce_id: noSub.id, ce_source: '//x', ce_type: 'user.created' },
      },
    });
    await hub.deadLetter(anEvent('tenant-m'), sub.id, {
      raw: {
        value: Buffer.from('{}'),
        headers: {
          ce_specversion: '1.0',
          ce_id: 'x'.repeat(4000),
          ce_source: '//x',
          ce_type: 'nul\u0000type',
          'hub-subscription-id': sub.id,
          'hub-tenant-id': 'tenant-\u0000m',
        },
      },
    });
    const after = anEvent('tenant-m');
    await hub.deadLetter(after, sub.id);
    await waitFor(() => row(after.id), { what: 'the good record after the malformed ones' });
    expect((await row(after.id))!.status).toBe('PENDING');
    const failed = (
      await hub.db.prisma.failedEvent.findMany({ where: { tenantId: 'tenant-m', status: 'FAILED' } })
    ).sort((a, b) => Number(a.sourceOffset) - Number(b.sourceOffset));
    expect(failed).toHaveLength(3);
    expect(failed.map((f) => f.reason)).toEqual([
      expect.stringMatching(/malformed DLT record: missing CloudEvent attribute/),
      expect.stringMatching(/no hub-subscription-id header/),
      expect.stringMatching(/event id longer than/),
    ]);
    expect(failed[0]!.eventId).toMatch(/dlt\.user-lifecycle\.v1:\d+:\d+$/);
    expect(failed[1]!.eventId).toBe(noSub.id);
    expect(failed[2]!.eventId).toMatch(/dlt\.user-lifecycle\.v1:\d+:\d+$/);
    expect(failed[2]!.eventType).toBe('nultype');
    // Readable through the API like any other failure.
    const res = await hub.app.inject({
      url: `/v1/failed-events/${failed[0]!.id}`,
      headers: { authorization: `Bearer ${hub.operatorKey}` },
    });
    expect(res.json()).toMatchObject({ status: 'FAILED', event: { body: 'not a cloudevent' } });
  });
});

describe('dlt-processor during a Postgres outage', () => {
  it('pauses while the database refuses connections, resumes when it is back, and loses no DLT record', async () => {
    // Pings that failed: the consumer's probes while the database is away (a positive sentinel that it kept
    // probing and stayed paused).
    let failedPings = 0;
    const hub = await startDltHarness({
      scheduler: false,
      consumerStore: (store) =>
        Object.assign(Object.create(store) as FailureStore, {
          ping: () =>
            store.ping().catch((err: unknown) => {
              failedPings++;
              throw err;
            }),
        }),
    });
    const r = await startReceiver();
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const allow = (on: boolean) => admin.query(`ALTER DATABASE "${hub.db.name}" ALLOW_CONNECTIONS ${on}`);
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const before = Array.from({ length: 20 }, () => anEvent());
      for (const e of before) await hub.deadLetter(e, sub.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 20);
      await allow(false);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [hub.db.name],
      );
      const during = Array.from({ length: 30 }, () => anEvent());
      await hub.deadLetterMany(during.slice(0, 10), sub.id, 'DELIVERY.HTTP_500', 500);
      await waitFor(() => hub.consumer.paused(), { what: 'consumer paused', timeoutMs: 20_000 });
      for (const e of during.slice(10)) await hub.deadLetter(e, sub.id);
      // Still paused while the database stays away: it keeps probing (three more failed probes) and stays paused.
      const probes = failedPings;
      await waitFor(() => failedPings >= probes + 3, { what: 'three more failed probes', timeoutMs: 20_000 });
      expect(hub.consumer.paused()).toBe(true);
      const notReady = await hub.app.inject({ url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json().details).toEqual({ dbPaused: true });
      await allow(true);
      await waitFor(() => !hub.consumer.paused(), { what: 'consumer resumed', timeoutMs: 30_000 });
      expect((await hub.app.inject({ url: '/readyz' })).statusCode).toBe(200);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count().catch(() => 0)) === 50, {
        timeoutMs: 30_000,
        what: '50 rows after recovery',
      });
      const stored = await hub.db.prisma.failedEvent.findMany({ select: { eventId: true } });
      expect(new Set(stored.map((s) => s.eventId))).toEqual(new Set([...before, ...during].map((e) => e.id)));
      // After recovery the group's committed offsets cover every record (and, above, every record is a row).
      const kafkaAdmin = hub.kafka.admin();
      await kafkaAdmin.connect();
      try {
        await waitFor(
          async () => {
            const [offsets] = await kafkaAdmin.fetchOffsets({
              groupId: hub.groupId,
              topics: [hub.topics.dlt('user-lifecycle')],
            });
            const committed = offsets!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
            return committed === 50;
          },
          { what: 'committed offsets = 50 records' },
        );
      } finally {
        await kafkaAdmin.disconnect();
      }
    } finally {
      await allow(true).catch(() => {});
      await admin.end();
      await hub.stop();
      await r.close();
    }
  });
});
