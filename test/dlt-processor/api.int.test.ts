/** Operator API: filters, pagination, precise 4xx, tenant isolation, stats, metrics; retention cleanup. */
import { startCleanup } from '../../pipeline/dlt-processor/cleanup';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(90_000);

describe('dlt-processor operator API', () => {
  let hub: DltHarness;
  let r: Receiver;
  let subB: { id: string };
  let subB2: { id: string };
  const op = () => ({ authorization: `Bearer ${hub.operatorKey}` });
  const get = async (url: string, headers = op()) => hub.app.inject({ url, headers });

  beforeAll(async () => {
    hub = await startDltHarness({ scheduler: false });
    r = await startReceiver((_q, res) => res.writeHead(410).end());
    subB = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-b' });
    subB2 = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-b' });
    for (let i = 0; i < 5; i++)
      await hub.deadLetter(anEvent('tenant-b'), subB.id, { code: 'DELIVERY.HTTP_410', status: 410, domain: 'policy' });
    for (let i = 0; i < 2; i++)
      await hub.deadLetter(anEvent('tenant-b', { type: 'group.created' }), subB2.id, { domain: 'access' });
    const subA = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a' });
    for (let i = 0; i < 3; i++) await hub.deadLetter(anEvent('tenant-a'), subA.id);
    await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 10, { what: '10 rows' });
  });
  afterAll(async () => {
    await hub.stop();
    await r.close();
  });

  it('pages through a filtered list with a cursor, newest first, without overlap', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/v1/failed-events?tenantId=tenant-b&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.items.length).toBeLessThanOrEqual(3);
      seen.push(...body.items.map((x: { id: string }) => x.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const all = (await get('/v1/failed-events?tenantId=tenant-b&limit=100')).json().items;
    const created = all.map((x: { createdAt: string }) => Date.parse(x.createdAt));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
  });

  it('filters by subscription, status, event type, domain and time range', async () => {
    const ids = async (q: string) =>
      (await get(`/v1/failed-events?limit=100&${q}`)).json().items as {
        subscriptionId: string;
        status: string;
        eventType: string;
        domain: string;
        tenantId: string;
      }[];
    expect(await ids(`subscriptionId=${subB2.id}`)).toHaveLength(2);
    const failed = await ids('status=FAILED');
    expect(failed).toHaveLength(5);
    expect(failed.every((x) => x.subscriptionId === subB.id)).toBe(true);
    expect(await ids('status=PENDING&tenantId=tenant-a')).toHaveLength(3);
    expect((await ids('eventType=group.created')).every((x) => x.eventType === 'group.created')).toBe(true);
    expect(await ids('eventType=group.created')).toHaveLength(2);
    expect(await ids('domain=policy')).toHaveLength(5);
    expect(await ids('domain=organization')).toHaveLength(0);
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 3600_000).toISOString();
    expect(await ids(`from=${encodeURIComponent(past)}&to=${encodeURIComponent(future)}`)).toHaveLength(10);
    expect(await ids(`from=${encodeURIComponent(future)}`)).toHaveLength(0);
  });

  it('answers bad filters, cursors and ids with precise problem bodies', async () => {
    const bad = await get('/v1/failed-events?status=LOST&limit=0');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    const paths = bad.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['status', 'limit']));
    const unknownParam = await get('/v1/failed-events?colour=red');
    expect(unknownParam.statusCode).toBe(400);
    const range = await get(
      `/v1/failed-events?from=${encodeURIComponent('2026-02-01T00:00:00Z')}&to=${encodeURIComponent('2026-01-01T00:00:00Z')}`,
    );
    expect(range.statusCode).toBe(400);
    expect(range.json().errors).toEqual([{ in: 'querystring', path: 'from', message: '"from" must be before "to"' }]);
    expect((await get('/v1/failed-events?from=yesterday')).statusCode).toBe(400);
    const cursor = await get('/v1/failed-events?cursor=not-a-cursor');
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json().detail).toMatch(/cursor/);
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid']) {
      const res = await get(`/v1/failed-events/${id}`);
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(
        (await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() })).statusCode,
      ).toBe(404);
    }
    expect((await get('/v1/replay-jobs/00000000-0000-0000-0000-000000000000')).statusCode).toBe(404);
    const badBulk = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: op(),
      payload: { dryRun: 'yes', status: 'NOPE' },
    });
    expect(badBulk.statusCode).toBe(400);
    const resolvedBulk = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: op(),
      payload: { status: 'DELIVERED', dryRun: true },
    });
    expect(resolvedBulk.statusCode).toBe(409);
    expect((await get('/v1/failed-events', { authorization: 'Bearer ihk_wrong' })).statusCode).toBe(401);
    expect((await hub.app.inject({ url: '/v1/failed-events' })).statusCode).toBe(401);
  });

  it('shows one failure with its event, headers and attempts, and no secrets', async () => {
    const [item] = (await get('/v1/failed-events?tenantId=tenant-a&limit=1')).json().items;
    const res = await get(`/v1/failed-events/${item.id}`);
    expect(res.statusCode).toBe(200);
    const d = res.json();
    expect(d).toMatchObject({ id: item.id, tenantId: 'tenant-a', status: 'PENDING' });
    expect(d.event.headers).toMatchObject({ ce_id: d.eventId, ce_specversion: '1.0' });
    expect(JSON.parse(d.event.body)).toEqual({ userId: 'u1' });
    expect(d.failureHeaders['hub-dlt-attempts']).toBe('3');
    expect(d.deliveryAttempts).toEqual([expect.objectContaining({ source: 'OUTBOX', statusCode: 500 })]);
    const text = res.body;
    expect(text).not.toMatch(/whsec_|secret|password|authorization/i);
  });

  it('keeps tenants apart: a tenant key sees only its own rows, other ids answer 404, other tenants 403', async () => {
    const a = { authorization: `Bearer ${await hub.tenantKey('tenant-a')}` };
    const listA = (await get('/v1/failed-events?limit=100', a)).json();
    expect(listA.items).toHaveLength(3);
    expect(listA.items.every((x: { tenantId: string }) => x.tenantId === 'tenant-a')).toBe(true);
    const [bItem] = (await get('/v1/failed-events?tenantId=tenant-b&limit=1')).json().items;
    expect((await get(`/v1/failed-events/${bItem.id}`, a)).statusCode).toBe(404);
    expect(
      (await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${bItem.id}/replay`, headers: a })).statusCode,
    ).toBe(404);
    expect((await get('/v1/failed-events?tenantId=tenant-b', a)).statusCode).toBe(403);
    expect((await get('/v1/failed-events/stats?tenantId=tenant-b', a)).statusCode).toBe(403);
    const statsA = (await get('/v1/failed-events/stats', a)).json();
    expect(statsA.byStatus).toMatchObject({ PENDING: 3, FAILED: 0 });
    const dryB = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: a,
      payload: { tenantId: 'tenant-b', dryRun: true },
    });
    expect(dryB.statusCode).toBe(403);
    // A tenant's own dry run counts only its rows (its FAILED ones: none).
    const dryA = await hub.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: a,
      payload: { dryRun: true },
    });
    expect(dryA.json()).toEqual({ dryRun: true, count: 0 });
  });

  it('answers stats (counts by status, age of the oldest unresolved) and exports them as gauges', async () => {
    const stats = (await get('/v1/failed-events/stats')).json();
    expect(stats.byStatus).toEqual({
      PENDING: 5,
      RETRYING: 0,
      HELD: 0,
      DELIVERED: 0,
      FAILED: 5,
      REPLAYED: 0,
      SKIPPED: 0,
    });
    // The harness dead-letters with a first attempt 1 s in the past.
    expect(stats.oldestUnresolvedAgeSeconds).toBeGreaterThanOrEqual(1);
    const b = (await get('/v1/failed-events/stats?tenantId=tenant-b')).json();
    expect(b.byStatus).toMatchObject({ PENDING: 2, FAILED: 5 });
    await hub.gauges.refresh();
    const metrics = (await hub.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/hub_dlt_failed_events\{status="FAILED"\} 5/);
    expect(metrics).toMatch(/hub_dlt_failed_events\{status="PENDING"\} 5/);
    expect(metrics).toMatch(/hub_dlt_oldest_unresolved_age_seconds [1-9]/);
    expect(metrics).toMatch(/hub_dlt_records_persisted_total 10/);
    const spec = (await hub.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/v1/failed-events',
        '/v1/failed-events/{id}',
        '/v1/failed-events/{id}/replay',
        '/v1/failed-events/replay',
        '/v1/failed-events/stats',
        '/v1/replay-jobs/{id}',
      ]),
    );
  });
});

describe('dlt-processor retention cleanup', () => {
  it('deletes only DELIVERED/REPLAYED rows resolved before the retention, never unresolved ones', async () => {
    const hub = await startDltHarness({ scheduler: false });
    const r = await startReceiver();
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const events = Array.from({ length: 6 }, () => anEvent());
      await hub.deadLetterMany(events, sub.id, 'DELIVERY.HTTP_500', 500);
      await waitFor(async () => (await hub.db.prisma.failedEvent.count()) === 6);
      const old = new Date(Date.now() - 48 * 3600_000);
      const set = (i: number, status: string, resolvedAt: Date | null) =>
        hub.db.prisma.failedEvent.updateMany({ where: { eventId: events[i]!.id }, data: { status, resolvedAt } });
      await set(0, 'DELIVERED', old); // goes
      await set(1, 'REPLAYED', old); // goes
      await set(2, 'DELIVERED', new Date()); // recent: stays
      await set(3, 'FAILED', null); // unresolved: stays (old creation time does not matter)
      await hub.db.prisma.failedEvent.updateMany({ where: { eventId: events[3]!.id }, data: { createdAt: old } });
      // 4 PENDING, 5 PENDING: stay
      const cleanup = startCleanup({ store: hub.store, retentionHours: 24, intervalMs: 3_600_000, log: hub.log });
      try {
        expect(await cleanup.run()).toBe(2);
        expect(await cleanup.run()).toBe(0);
      } finally {
        cleanup.stop();
      }
      const left = await hub.db.prisma.failedEvent.findMany({ select: { eventId: true } });
      expect(new Set(left.map((x) => x.eventId))).toEqual(new Set(events.slice(2).map((e) => e.id)));
      // Their attempt rows went with them.
      expect(await hub.db.prisma.deliveryAttempt.count()).toBe(4);
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});
