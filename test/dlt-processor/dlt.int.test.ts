import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { adminUrl } from '../support/db';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { whsec } from '../support/subscriptions';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(60_000);

describe('dlt-processor', () => {
  let hub: DltHarness;
  const receivers: Receiver[] = [];
  const receiver = async (...a: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...a);
    receivers.push(r);
    return r;
  };
  beforeAll(async () => {
    hub = await startDltHarness({ maxAttempts: 3, intervalMs: 200, baseDelayMs: 100 });
  });
  afterAll(async () => {
    await hub.stop();
    await Promise.all(receivers.map((r) => r.close()));
  });
  const row = (eventId: string) => hub.db.prisma.failedEvent.findFirst({ where: { eventId } });
  const asOperator = { authorization: `Bearer ${'x'}` };
  const op = () => ({ authorization: `Bearer ${hub.operatorKey}` });

  it('persists a dead-lettered delivery and delivers it on a scheduled retry once the subscriber recovers', async () => {
    let healthy = false;
    const r = await receiver((_q, res) => res.writeHead(healthy ? 200 : 500).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.deadLetter(event, sub.id);
    await waitFor(async () => (await row(event.id))?.status === 'RETRYING', { what: 'row claimed for retry' });
    expect(await row(event.id)).toMatchObject({
      subscriptionId: sub.id,
      tenantId: 'tenant-a',
      lastErrorCode: 'DELIVERY.HTTP_500',
    });
    healthy = true;
    await waitFor(async () => (await row(event.id))?.status === 'DELIVERED', { timeoutMs: 20_000, what: 'DELIVERED' });
    const delivered = r.received.filter((x) => x.headers['webhook-id'] === event.id);
    expect(delivered.length).toBeGreaterThanOrEqual(1);
    const attempts = await hub.db.prisma.deliveryAttempt.findMany({
      where: { failedEventId: (await row(event.id))!.id },
      orderBy: { id: 'asc' },
    });
    expect(attempts[0]!.source).toBe('OUTBOX');
    expect(attempts.at(-1)).toMatchObject({ source: 'SCHEDULED', statusCode: 200 });
  });

  it('is idempotent on a redelivered DLT record and stores a malformed one as FAILED without blocking the next', async () => {
    const r = await receiver((_q, res) => res.writeHead(410).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.HTTP_410', status: 410 });
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.HTTP_410', status: 410 });
    await hub.deadLetter(anEvent(), sub.id, {
      raw: { value: Buffer.from('not a cloudevent'), headers: { 'hub-tenant-id': 'tenant-a' } },
    });
    const after = anEvent();
    await hub.deadLetter(after, sub.id, { code: 'DELIVERY.HTTP_410', status: 410 });
    await waitFor(() => row(after.id), { what: 'record after the malformed one' });
    expect(await hub.db.prisma.failedEvent.count({ where: { eventId: event.id } })).toBe(1);
    expect((await row(event.id))!.status).toBe('FAILED');
    const malformed = await hub.db.prisma.failedEvent.findFirst({ where: { reason: { contains: 'malformed' } } });
    expect(malformed).toMatchObject({ status: 'FAILED' });
    expect(malformed!.eventId).toMatch(/dlt\.user-lifecycle\.v1:\d+:\d+$/);
    // Permanent failures get no scheduled retry.
    expect(r.received).toHaveLength(0);
  });

  it('exhausts retries to FAILED, then an operator replay delivers with the same webhook-id and a fresh signature -> REPLAYED', async () => {
    let healthy = false;
    const r = await receiver((_q, res) => res.writeHead(healthy ? 204 : 503).end());
    const secret = whsec();
    const sub = await hub.subscribe({ endpointUrl: r.url, signingSecret: secret });
    const event = anEvent();
    await hub.deadLetter(event, sub.id);
    await waitFor(async () => (await row(event.id))?.status === 'FAILED', {
      timeoutMs: 20_000,
      what: 'FAILED after retries',
    });
    expect(r.received).toHaveLength(3);
    healthy = true;
    const id = (await row(event.id))!.id;
    const res = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ delivered: true, status: 'REPLAYED', statusCode: 204 });
    const last = r.received.at(-1)!;
    expect(last.headers['webhook-id']).toBe(event.id);
    expect(() =>
      new Webhook(secret).verify(last.body.toString(), last.headers as Record<string, string>),
    ).not.toThrow();
    expect(last.headers['webhook-signature']).not.toBe(r.received[0]!.headers['webhook-signature']);
    const again = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() });
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toMatch(/problem\+json/);
    const detail = (await hub.app.inject({ url: `/v1/failed-events/${id}`, headers: op() })).json();
    expect(detail.status).toBe('REPLAYED');
    expect(detail.deliveryAttempts.map((a: { source: string }) => a.source)).toEqual([
      'OUTBOX',
      'SCHEDULED',
      'SCHEDULED',
      'SCHEDULED',
      'REPLAY',
    ]);
  });

  it('lists with filters and pagination, answers stats, and keeps tenants apart', async () => {
    const r = await receiver((_q, res) => res.writeHead(410).end());
    const subB = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-b' });
    for (let i = 0; i < 5; i++)
      await hub.deadLetter(anEvent('tenant-b'), subB.id, { code: 'DELIVERY.HTTP_410', status: 410, domain: 'policy' });
    await waitFor(async () => (await hub.db.prisma.failedEvent.count({ where: { tenantId: 'tenant-b' } })) === 5);
    const page1 = (await hub.app.inject({ url: '/v1/failed-events?tenantId=tenant-b&limit=2', headers: op() })).json();
    expect(page1.items).toHaveLength(2);
    const page2 = (
      await hub.app.inject({
        url: `/v1/failed-events?tenantId=tenant-b&limit=2&cursor=${page1.nextCursor}`,
        headers: op(),
      })
    ).json();
    const page3 = (
      await hub.app.inject({
        url: `/v1/failed-events?tenantId=tenant-b&limit=2&cursor=${page2.nextCursor}`,
        headers: op(),
      })
    ).json();
    const ids = [...page1.items, ...page2.items, ...page3.items].map((x: { id: string }) => x.id);
    expect(new Set(ids).size).toBe(5);
    expect(page3.nextCursor).toBeNull();
    const byDomain = (
      await hub.app.inject({ url: '/v1/failed-events?domain=policy&status=FAILED', headers: op() })
    ).json();
    expect(byDomain.items.every((x: { domain: string }) => x.domain === 'policy')).toBe(true);

    const keyA = await hub.tenantKey('tenant-a');
    const a = { authorization: `Bearer ${keyA}` };
    const listA = (await hub.app.inject({ url: '/v1/failed-events?limit=100', headers: a })).json();
    expect(listA.items.every((x: { tenantId: string }) => x.tenantId === 'tenant-a')).toBe(true);
    expect((await hub.app.inject({ url: `/v1/failed-events/${ids[0]}`, headers: a })).statusCode).toBe(404);
    expect(
      (await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${ids[0]}/replay`, headers: a })).statusCode,
    ).toBe(404);
    expect((await hub.app.inject({ url: '/v1/failed-events?tenantId=tenant-b', headers: a })).statusCode).toBe(403);
    expect((await hub.app.inject({ url: '/v1/failed-events', headers: asOperator })).statusCode).toBe(401);
    const bad = await hub.app.inject({ url: '/v1/failed-events?status=LOST&limit=0', headers: op() });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.length).toBeGreaterThanOrEqual(1);
    expect(
      (await hub.app.inject({ url: '/v1/failed-events/00000000-0000-0000-0000-000000000000', headers: op() }))
        .statusCode,
    ).toBe(404);

    const stats = (await hub.app.inject({ url: '/v1/failed-events/stats?tenantId=tenant-b', headers: op() })).json();
    expect(stats.byStatus.FAILED).toBe(5);
    expect(stats.oldestUnresolvedAgeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('bulk-replays by filter in the background; the dry run counts the same rows', async () => {
    let healthy = false;
    const r = await receiver((_q, res) => res.writeHead(healthy ? 200 : 410).end());
    const sub = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-c' });
    const N = 200;
    for (let i = 0; i < N; i++)
      await hub.deadLetter(anEvent('tenant-c'), sub.id, { code: 'DELIVERY.HTTP_410', status: 410 });
    await waitFor(
      async () => (await hub.db.prisma.failedEvent.count({ where: { tenantId: 'tenant-c', status: 'FAILED' } })) === N,
      { timeoutMs: 20_000 },
    );
    const dry = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: op(),
      payload: { tenantId: 'tenant-c', dryRun: true },
    });
    expect(dry.json()).toEqual({ dryRun: true, count: N });
    healthy = true;
    const started = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: op(),
      payload: { tenantId: 'tenant-c' },
    });
    expect(started.statusCode).toBe(202);
    const job = await waitFor(
      async () => {
        const j = (await hub.app.inject({ url: `/v1/replay-jobs/${started.json().id}`, headers: op() })).json();
        return j.status === 'COMPLETED' ? j : undefined;
      },
      { timeoutMs: 30_000, what: 'replay job' },
    );
    expect(job).toMatchObject({ total: N, processed: N, succeeded: N, failed: 0 });
    expect(new Set(r.received.map((x) => x.headers['webhook-id'])).size).toBe(N);
    expect(await hub.db.prisma.failedEvent.count({ where: { tenantId: 'tenant-c', status: 'REPLAYED' } })).toBe(N);
  });
});

describe('dlt-processor with two scheduler instances', () => {
  it('never delivers one claim twice', async () => {
    const hub = await startDltHarness({ instances: 2, intervalMs: 50, maxAttempts: 1 });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const N = 150;
      for (let i = 0; i < N; i++) await hub.deadLetter(anEvent(), sub.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count({ where: { status: 'DELIVERED' } })) === N, {
        timeoutMs: 30_000,
      });
      const ids = r.received.map((x) => x.headers['webhook-id']);
      expect(ids).toHaveLength(N);
      expect(new Set(ids).size).toBe(N);
      const attempts = await hub.db.prisma.deliveryAttempt.count({ where: { source: 'SCHEDULED' } });
      expect(attempts).toBe(N);
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});

describe('dlt-processor during a Postgres outage', () => {
  it('holds the partition while the database refuses connections and loses no record', async () => {
    const hub = await startDltHarness({ scheduler: false });
    const r = await startReceiver();
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const before = Array.from({ length: 20 }, () => anEvent());
      for (const e of before) await hub.deadLetter(e, sub.id);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 20);
      await admin.query(`ALTER DATABASE "${hub.db.name}" ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [hub.db.name],
      );
      const during = Array.from({ length: 30 }, () => anEvent());
      for (const e of during) await hub.deadLetter(e, sub.id);
      await new Promise((res) => setTimeout(res, 3000));
      await admin.query(`ALTER DATABASE "${hub.db.name}" ALLOW_CONNECTIONS true`);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count().catch(() => 0)) === 50, {
        timeoutMs: 30_000,
        what: '50 rows after recovery',
      });
      const stored = await hub.db.prisma.failedEvent.findMany({ select: { eventId: true } });
      expect(new Set(stored.map((s) => s.eventId))).toEqual(new Set([...before, ...during].map((e) => e.id)));
    } finally {
      await admin.query(`ALTER DATABASE "${hub.db.name}" ALLOW_CONNECTIONS true`).catch(() => {});
      await admin.end();
      await hub.stop();
      await r.close();
    }
  });
});
