/**
 * Ledger API on a fresh database with ledger rows written directly (as the ledger writer would), a real subscriber
 * and real subscriptions in the directory: list/filter/paginate, detail with the audit chain, replay through the
 * gate (recorded through the LedgerSink), 410 past the retention window, recover, tenant isolation.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { type LedgerSink, memoryLedgerSink } from '../../pipeline/shared/ledger/ledger';
import type { LedgerDeliveryStatus, LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import type { PrismaClient } from '../../prisma/client';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(90_000);

const DAY = 86_400_000;
const ymd = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');

/** The day partitions of the three ledger tables for the day of `at` (the writer's job in production). */
async function ensureDay(prisma: PrismaClient, at: Date) {
  const from = new Date(Math.floor(at.getTime() / DAY) * DAY);
  const to = new Date(from.getTime() + DAY);
  for (const t of ['LedgerEvent', 'LedgerDelivery', 'LedgerAttempt'])
    await prisma.$executeRawUnsafe(
      `CREATE TABLE IF NOT EXISTS "${t}_${ymd(from)}" PARTITION OF "${t}" FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`,
    );
}

interface Seed {
  tenantId: string;
  type?: string;
  receivedAt: Date;
  deliveries: {
    subscriptionId: string;
    status: LedgerDeliveryStatus;
    reason?: string;
    attempts?: { statusCode: number | null; errorCode?: string; snippet?: string }[];
  }[];
}

describe('dlt-processor ledger API', () => {
  let hub: DltHarness;
  let sink: LedgerSink & { records: LedgerRecord[] };
  let r: Receiver;
  let r2: Receiver;
  let subA1: { id: string };
  let subA2: { id: string };
  let subB: { id: string };
  let subRec: { id: string };
  let keyA: string;
  let keyB: string;
  const now = Date.now();
  const op = () => ({ authorization: `Bearer ${hub.operatorKey}` });
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const get = (url: string, headers = op()) => hub.app.inject({ url, headers });
  const post = (url: string, payload?: unknown, headers = op()) =>
    hub.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

  async function seed(s: Seed): Promise<string> {
    const ev = anEvent(s.tenantId, { type: s.type ?? 'user.created', data: Buffer.from('{"userId":"ü-1"}') });
    const bin = toKafkaBinary(ev);
    await ensureDay(hub.db.prisma, s.receivedAt);
    await hub.db.prisma.ledgerEvent.create({
      data: {
        eventId: ev.id,
        receivedAt: s.receivedAt,
        tenantId: s.tenantId,
        type: ev.type,
        source: ev.source,
        match: { sourceService: 'identity', eventType: ev.type, resourceType: 'USER', operationType: 'CREATE' },
        domain: 'user-lifecycle',
        traceId: `trace-${ev.id}`,
        fanOut: s.deliveries.length,
        ingestTopic: 'hub.events.v1',
        ingestPartition: 0,
        ingestOffset: '42',
        payloadHeaders: bin.headers,
        payloadBody: new Uint8Array(bin.value),
      },
    });
    for (const d of s.deliveries) {
      const attempts = d.attempts ?? [];
      await hub.db.prisma.ledgerDelivery.create({
        data: {
          eventId: ev.id,
          subscriptionId: d.subscriptionId,
          receivedAt: s.receivedAt,
          tenantId: s.tenantId,
          status: d.status,
          reason: d.reason ?? null,
          attempts: attempts.length,
          lastStatusCode: attempts.at(-1)?.statusCode ?? null,
          updatedAt: new Date(s.receivedAt.getTime() + 1000 * (attempts.length + 1)),
        },
      });
      for (const [i, a] of attempts.entries())
        await hub.db.prisma.ledgerAttempt.create({
          data: {
            attemptId: randomUUID(),
            receivedAt: s.receivedAt,
            eventId: ev.id,
            subscriptionId: d.subscriptionId,
            tenantId: s.tenantId,
            attemptedAt: new Date(s.receivedAt.getTime() + 1000 * (i + 1)),
            source: 'OUTBOX',
            attempt: i + 1,
            durationMs: 10 + i,
            statusCode: a.statusCode,
            errorCode: a.errorCode ?? null,
            responseSnippet: a.snippet ?? null,
          },
        });
    }
    return ev.id;
  }

  const aEvents: string[] = [];
  let detailId: string;
  let bEvent: string;

  beforeAll(async () => {
    sink = memoryLedgerSink();
    hub = await startDltHarness({ scheduler: false, ledger: sink, retentionDays: 14 });
    r = await startReceiver();
    r2 = await startReceiver();
    subA1 = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a' });
    subA2 = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a' });
    subB = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-b' });
    subRec = await hub.subscribe({ endpointUrl: r2.url, tenantId: 'tenant-a' });
    keyA = await hub.tenantKey('tenant-a');
    keyB = await hub.tenantKey('tenant-b');
    // Tenant A: 7 events a minute apart (5 user.created, 2 group.created), each delivered to subA1.
    for (let i = 0; i < 7; i++)
      aEvents.push(
        await seed({
          tenantId: 'tenant-a',
          type: i < 5 ? 'user.created' : 'group.created',
          receivedAt: new Date(now - (i + 10) * 60_000),
          deliveries: [{ subscriptionId: subA1.id, status: 'DELIVERED', attempts: [{ statusCode: 204 }] }],
        }),
      );
    bEvent = await seed({
      tenantId: 'tenant-b',
      receivedAt: new Date(now - 5 * 60_000),
      deliveries: [{ subscriptionId: subB.id, status: 'DELIVERED', attempts: [{ statusCode: 200 }] }],
    });
    // One event, two subscriptions: delivered at the second try, and failed for good.
    detailId = await seed({
      tenantId: 'tenant-a',
      receivedAt: new Date(now - 60_000),
      deliveries: [
        {
          subscriptionId: subA1.id,
          status: 'DELIVERED',
          attempts: [{ statusCode: 500, errorCode: 'DELIVERY.HTTP_500', snippet: 'oops' }, { statusCode: 204 }],
        },
        {
          subscriptionId: subA2.id,
          status: 'FAILED',
          reason: 'HTTP 410: gone',
          attempts: [{ statusCode: 410, errorCode: 'DELIVERY.HTTP_410' }],
        },
      ],
    });
  });
  afterAll(async () => {
    await hub.stop();
    await r.close();
    await r2.close();
  });

  it('lists events newest first, filtered, in cursor pages without overlap', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/v1/events?tenantId=tenant-a&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      seen.push(...body.items.map((x: { eventId: string }) => x.eventId));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([detailId, ...aEvents]);

    const all = (await get('/v1/events?limit=100')).json().items;
    expect(all).toHaveLength(9);
    const at = all.map((x: { receivedAt: string }) => Date.parse(x.receivedAt));
    expect([...at].sort((a, b) => b - a)).toEqual(at);
    const first = all.find((x: { eventId: string }) => x.eventId === aEvents[0]);
    expect(first).toMatchObject({
      tenantId: 'tenant-a',
      type: 'user.created',
      domain: 'user-lifecycle',
      fanOut: 1,
      traceId: `trace-${aEvents[0]}`,
      ingest: { topic: 'hub.events.v1', partition: 0, offset: '42' },
      match: { resourceType: 'USER' },
    });

    expect((await get('/v1/events?type=group.created')).json().items).toHaveLength(2);
    const from = encodeURIComponent(new Date(now - 12.5 * 60_000).toISOString());
    const to = encodeURIComponent(new Date(now - 9.5 * 60_000).toISOString());
    expect(
      (await get(`/v1/events?from=${from}&to=${to}`)).json().items.map((x: { eventId: string }) => x.eventId),
    ).toEqual(aEvents.slice(0, 3));

    const bad = await get('/v1/events?cursor=bm90LWEtY3Vyc29y');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect((await get(`/v1/events?from=${to}&to=${from}`)).statusCode).toBe(400);
  });

  it('lists deliveries by subscription, event and status, in cursor pages', async () => {
    const ids = async (q: string) =>
      (await get(`/v1/deliveries?limit=100&${q}`)).json().items as {
        eventId: string;
        subscriptionId: string;
        status: string;
      }[];
    expect(await ids(`subscriptionId=${subA1.id}`)).toHaveLength(8);
    expect(await ids(`eventId=${detailId}`)).toHaveLength(2);
    const failed = await ids('status=FAILED');
    expect(failed).toEqual([expect.objectContaining({ eventId: detailId, subscriptionId: subA2.id })]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { items: { eventId: string; subscriptionId: string }[]; nextCursor: string | null } = (
        await get(`/v1/deliveries?tenantId=tenant-a&limit=4${cursor ? `&cursor=${cursor}` : ''}`)
      ).json();
      seen.push(
        ...body.items.map((x: { eventId: string; subscriptionId: string }) => `${x.eventId}/${x.subscriptionId}`),
      );
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
    expect((await get('/v1/deliveries?status=BOGUS')).statusCode).toBe(400);
  });

  it('shows an event with its data, audit chain and one entry per subscription', async () => {
    const res = await get(`/v1/events/${detailId}`);
    expect(res.statusCode).toBe(200);
    const e = res.json();
    expect(e).toMatchObject({ eventId: detailId, tenantId: 'tenant-a', fanOut: 2, data: '{"userId":"ü-1"}' });
    expect(e.attributes).toMatchObject({ ce_id: detailId, ce_type: 'user.created', ce_tenantid: 'tenant-a' });
    expect(e.chain.map((c: { stage: string }) => c.stage)).toEqual([
      'EVENT_RECEIVED',
      'EVENT_PROCESSED',
      'HTTP_SEND',
      'HTTP_SEND',
      'HTTP_SEND',
      'EVENT_ERROR',
    ]);
    expect(e.chain[1]).toMatchObject({ matches: 2, traceId: `trace-${detailId}` });
    const sends = e.chain.filter((c: { stage: string }) => c.stage === 'HTTP_SEND');
    expect(sends.map((c: { statusCode: number }) => c.statusCode).sort()).toEqual([204, 410, 500]);
    expect(e.chain.find((c: { stage: string }) => c.stage === 'EVENT_ERROR')).toMatchObject({
      subscriptionId: subA2.id,
      status: 'FAILED',
      reason: 'HTTP 410: gone',
    });
    expect(
      e.subscriptions.map((s: { subscriptionId: string; status: string }) => [s.subscriptionId, s.status]).sort(),
    ).toEqual(
      [
        [subA1.id, 'DELIVERED'],
        [subA2.id, 'FAILED'],
      ].sort(),
    );

    const d = await get(`/v1/deliveries/${detailId}/${subA1.id}`);
    expect(d.statusCode).toBe(200);
    expect(d.json()).toMatchObject({ status: 'DELIVERED', attempts: 2, lastStatusCode: 204 });
    expect(d.json().deliveryAttempts).toEqual([
      expect.objectContaining({
        source: 'OUTBOX',
        attempt: 1,
        statusCode: 500,
        errorCode: 'DELIVERY.HTTP_500',
        responseSnippet: 'oops',
      }),
      expect.objectContaining({ source: 'OUTBOX', attempt: 2, statusCode: 204, errorCode: null }),
    ]);
    const missing = await get('/v1/events/no-such-event');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().detail).toContain('14 days');
    expect((await get(`/v1/deliveries/${detailId}/no-such-sub`)).statusCode).toBe(404);
  });

  it('replays a delivered event with the same webhook-id and records attempt and delivery', async () => {
    const before = r.received.length;
    const recs = sink.records.length;
    const res = await post(`/v1/events/${aEvents[0]}/replay`, { subscriptionId: subA1.id });
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toEqual([
      expect.objectContaining({
        subscriptionId: subA1.id,
        sent: true,
        delivered: true,
        statusCode: 204,
        status: 'DELIVERED',
      }),
    ]);
    expect(r.received.length - before).toBe(1);
    const got = r.received.at(-1)!;
    expect(got.headers['webhook-id']).toBe(aEvents[0]);
    expect(got.headers['webhook-signature']).toMatch(/^v1,/);
    const emitted = sink.records.slice(recs);
    expect(emitted).toEqual([
      expect.objectContaining({
        kind: 'attempt',
        source: 'REPLAY',
        eventId: aEvents[0],
        subscriptionId: subA1.id,
        tenantId: 'tenant-a',
        statusCode: 204,
        errorCode: null,
        attemptId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      }),
      expect.objectContaining({ kind: 'delivery', status: 'DELIVERED', attempts: 1, lastStatusCode: 204 }),
    ]);
    const ev = (await get(`/v1/events/${aEvents[0]}`)).json();
    expect(emitted[0]).toMatchObject({ receivedAt: ev.receivedAt });

    // Every subscription of the event when none is named; a second replay has a fresh attemptId.
    const both = await post(`/v1/events/${detailId}/replay`);
    expect(both.statusCode).toBe(200);
    expect(
      both
        .json()
        .results.map((x: { subscriptionId: string }) => x.subscriptionId)
        .sort(),
    ).toEqual([subA1.id, subA2.id].sort());
    expect(r.received.slice(-2).map((x) => x.headers['webhook-id'])).toEqual([detailId, detailId]);
    const attempts = sink.records.filter((x) => x.kind === 'attempt');
    expect(new Set(attempts.map((x) => (x.kind === 'attempt' ? x.attemptId : ''))).size).toBe(attempts.length);
  });

  it('answers 503 when the replay was sent but the ledger sink refused its records', async () => {
    const emit = sink.emit;
    sink.emit = async () => {
      throw new Error('broker down');
    };
    try {
      const before = r.received.length;
      const res = await post(`/v1/events/${aEvents[1]}/replay`, { subscriptionId: subA1.id });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().detail).toMatch(/was sent \(delivered: true\).*broker down/);
      expect(r.received.length - before).toBe(1);
    } finally {
      sink.emit = emit;
    }
  });

  it('documents every ledger route in OpenAPI', async () => {
    const doc = (await get('/openapi.json')).json() as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'get /v1/events',
        'get /v1/events/{eventId}',
        'post /v1/events/{eventId}/replay',
        'get /v1/deliveries',
        'get /v1/deliveries/{eventId}/{subscriptionId}',
        'post /v1/deliveries/recover',
        'get /v1/recover-jobs/{id}',
      ]),
    );
  });

  it('sends nothing when the gate refuses: 409 paused, 422 endpoint blocked; 404 for no such delivery', async () => {
    const paused = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a', status: 'PAUSED' });
    const blocked = await hub.subscribe({ endpointUrl: 'http://169.254.169.254/hook', tenantId: 'tenant-a' });
    const id = await seed({
      tenantId: 'tenant-a',
      receivedAt: new Date(now - 30 * 60_000),
      deliveries: [
        { subscriptionId: paused.id, status: 'HELD' },
        { subscriptionId: blocked.id, status: 'FAILED' },
      ],
    });
    const before = r.received.length;
    const recs = sink.records.length;
    const p = await post(`/v1/events/${id}/replay`, { subscriptionId: paused.id });
    expect(p.statusCode).toBe(409);
    expect(p.headers['content-type']).toContain('application/problem+json');
    expect(p.json().detail).toContain('paused');
    const b = await post(`/v1/events/${id}/replay`, { subscriptionId: blocked.id });
    expect(b.statusCode).toBe(422);
    expect(b.json().details).toEqual({ code: 'GATE.ENDPOINT_BLOCKED' });
    // Every subscription refused: the gate's answer (which one comes first is the subscription ids' order).
    expect([409, 422]).toContain((await post(`/v1/events/${id}/replay`)).statusCode);
    expect((await post(`/v1/events/${id}/replay`, { subscriptionId: subA1.id })).statusCode).toBe(404);
    expect(r.received.length).toBe(before);
    expect(sink.records.length).toBe(recs);
  });

  it('sends a signed test event to one subscription and answers what the endpoint said', async () => {
    const secret = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
    const tested = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a', signingSecret: secret });
    const before = r.received.length;
    const recs = sink.records.length;
    const res = await post('/v1/test-deliveries', { subscriptionId: tested.id, data: { hello: 'ü' } }, as(keyA));
    expect(res.statusCode).toBe(200);
    const out = res.json();
    expect(out).toMatchObject({
      type: 'io.integration-hub.webhook.test.v1',
      delivered: true,
      statusCode: 204,
      errorCode: null,
    });
    expect(r.received.length - before).toBe(1);
    const got = r.received.at(-1)!;
    expect(got.headers['webhook-id']).toBe(out.eventId);
    // Verifies with the subscription's secret, as every delivery does.
    const verified = new Webhook(secret).verify(got.body.toString('utf8'), {
      'webhook-id': String(got.headers['webhook-id']),
      'webhook-timestamp': String(got.headers['webhook-timestamp']),
      'webhook-signature': String(got.headers['webhook-signature']),
    });
    expect(verified).toEqual({ hello: 'ü' });
    // Not a platform event: nothing in the delivery log.
    expect(sink.records.length).toBe(recs);

    // Another tenant's subscription is not found; a paused one says to resume it; bad input names the field.
    const other = await post('/v1/test-deliveries', { subscriptionId: tested.id }, as(keyB));
    expect(other.statusCode).toBe(404);
    const paused = await hub.subscribe({ endpointUrl: r.url, tenantId: 'tenant-a', status: 'PAUSED' });
    const p = await post('/v1/test-deliveries', { subscriptionId: paused.id }, as(keyA));
    expect(p.statusCode).toBe(409);
    expect(p.json().detail).toContain('resume it first');
    const bad = await post('/v1/test-deliveries', { subscription: tested.id }, as(keyA));
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect(r.received.length - before).toBe(1);
  });

  it('shows attempts per minute, the current rate and error rate, and consumer lag to operators only', async () => {
    // Two attempts of tenant A a minute ago: one 204, one 500; tenant B's one attempt does not count for A.
    const at = new Date(Date.now() - 60_000);
    const aId = await seed({
      tenantId: 'tenant-a',
      receivedAt: new Date(at.getTime() - 5_000),
      deliveries: [
        { subscriptionId: subA2.id, status: 'FAILED', attempts: [{ statusCode: 500 }, { statusCode: 204 }] },
      ],
    });
    expect(aId).toBeTruthy();
    const minuteOf = (iso: string) => iso.slice(0, 16);
    const res = await get('/v1/stats/overview?tenantId=tenant-a&minutes=120', as(keyA));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.minutes).toHaveLength(120);
    expect(body.lag).toBeNull(); // a tenant key does not see the hub's lag
    // The seeded attempts are 1 s and 2 s after receivedAt: in the minute of `receivedAt + 1 s` (or the next).
    const total = body.minutes.reduce(
      (n: { ok: number; bad: number }, m: { delivered: number; failed: number }) => ({
        ok: n.ok + m.delivered,
        bad: n.bad + m.failed,
      }),
      { ok: 0, bad: 0 },
    );
    // Tenant A's attempts within the last two hours: the seeded ones of this file (a minute apart, 10+ minutes ago)
    // and these two. Every minute bucket is at a whole minute.
    expect(total.ok).toBeGreaterThan(0);
    expect(total.bad).toBeGreaterThan(0);
    expect(body.minutes.every((m: { at: string }) => m.at.endsWith(':00.000Z'))).toBe(true);
    expect(body.minutes.map((m: { at: string }) => minuteOf(m.at))).toContain(minuteOf(at.toISOString()));
    expect(body.errorRate).toBeGreaterThan(0);
    expect(body.errorRate).toBeLessThan(1);
    // Tenant B's view of the same window has none of A's attempts.
    const b = (await get('/v1/stats/overview?minutes=120', as(keyB))).json();
    const bTotal = b.minutes.reduce(
      (n: number, m: { delivered: number; failed: number }) => n + m.delivered + m.failed,
      0,
    );
    expect(bTotal).toBe(1);
    // Naming another tenant: 403. An operator sees the consumer groups with their lag.
    expect((await get('/v1/stats/overview?tenantId=tenant-b', as(keyA))).statusCode).toBe(403);
    // (The group commits once it has stored a dead letter: one is sent, and the overview waited for.)
    await hub.deadLetter(anEvent('tenant-a'), subA1.id);
    const lag = await waitFor(
      async () => {
        const op = (await get('/v1/stats/overview?minutes=5')).json() as { lag: { groupId: string; lag: number }[] };
        return op.lag.find((g) => g.groupId === hub.groupId && g.lag === 0);
      },
      { what: "the DLT group's lag in the overview" },
    );
    expect(lag).toEqual({ groupId: hub.groupId, lag: 0 });
  });

  it('answers 410 for an event older than the retention window, 404 naming it for an unknown one', async () => {
    const old = await seed({
      tenantId: 'tenant-a',
      receivedAt: new Date(now - 20 * DAY),
      deliveries: [{ subscriptionId: subA1.id, status: 'DELIVERED', attempts: [{ statusCode: 204 }] }],
    });
    const before = r.received.length;
    const res = await post(`/v1/events/${old}/replay`);
    expect(res.statusCode).toBe(410);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().detail).toContain('14 days');
    const unknown = await post('/v1/events/evt-never-seen/replay');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().detail).toContain('14 days');
    expect(r.received.length).toBe(before);
  });

  it('recovers exactly the deliveries not delivered since a time, in the background with progress', async () => {
    const since = new Date(now - 3 * 3600_000);
    const mk = (status: LedgerDeliveryStatus, minutesAgo: number) =>
      seed({
        tenantId: 'tenant-a',
        receivedAt: new Date(now - minutesAgo * 60_000),
        deliveries: [{ subscriptionId: subRec.id, status }],
      });
    const delivered = [await mk('DELIVERED', 100), await mk('DELIVERED', 90)];
    const wanted = [
      await mk('FAILED', 120),
      await mk('RETRYING', 110),
      await mk('SKIPPED', 80),
      await mk('PENDING', 70),
      await mk('FAILED', 60),
    ];
    const tooOld = await mk('FAILED', 5 * 60);
    const body = { subscriptionId: subRec.id, since: since.toISOString() };
    const dry = await post('/v1/deliveries/recover', { ...body, dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toEqual({ dryRun: true, count: 5 });
    expect((await post('/v1/deliveries/recover', { ...body, status: ['FAILED'], dryRun: true })).json().count).toBe(2);

    const res = await post('/v1/deliveries/recover', body);
    expect(res.statusCode).toBe(202);
    expect(res.headers.location).toBe(`/v1/recover-jobs/${res.json().id}`);
    expect(res.json()).toMatchObject({ status: 'RUNNING', total: 5, subscriptionId: subRec.id });
    let job = res.json();
    await waitFor(
      async () => {
        job = (await get(res.headers.location as string)).json();
        return job.status !== 'RUNNING';
      },
      { what: 'recover job done' },
    );
    expect(job).toMatchObject({ status: 'COMPLETED', total: 5, processed: 5, error: null });
    const ids = r2.received.map((x) => x.headers['webhook-id']);
    expect([...ids].sort()).toEqual([...wanted].sort()); // each once
    expect(ids).not.toContain(tooOld);
    for (const d of delivered) expect(ids).not.toContain(d);
    const recs = sink.records.filter((x) => x.kind !== 'event' && x.subscriptionId === subRec.id);
    expect(recs.filter((x) => x.kind === 'attempt' && x.source === 'REPLAY')).toHaveLength(5);
    expect(recs.filter((x) => x.kind === 'delivery' && x.status === 'DELIVERED')).toHaveLength(5);

    expect((await post('/v1/deliveries/recover', { ...body, since: 'yesterday' })).statusCode).toBe(400);
    expect((await post('/v1/deliveries/recover', { ...body, subscriptionId: 'sub-unknown' })).statusCode).toBe(404);
  });

  it('keeps tenants apart: 403 for naming another tenant, 404 for its ids, nothing sent', async () => {
    const before = r.received.length + r2.received.length;
    // Tenant B sees its own event only.
    const own = (await get('/v1/events', as(keyB))).json().items.map((x: { eventId: string }) => x.eventId);
    expect(own).toEqual([bEvent]);
    const ownDeliveries = (await get('/v1/deliveries', as(keyB))).json().items;
    expect(ownDeliveries.every((x: { tenantId: string }) => x.tenantId === 'tenant-b')).toBe(true);
    expect((await get(`/v1/events/${bEvent}`, as(keyB))).statusCode).toBe(200);

    const deniedWith = async (status: number, res: Promise<{ statusCode: number; body: string }>) => {
      const x = await res;
      expect(x.statusCode).toBe(status);
      expect(x.body).not.toContain('trace-');
    };
    await deniedWith(403, get('/v1/events?tenantId=tenant-a', as(keyB)));
    await deniedWith(403, get('/v1/deliveries?tenantId=tenant-a', as(keyB)));
    await deniedWith(404, get(`/v1/events/${detailId}`, as(keyB)));
    await deniedWith(404, get(`/v1/deliveries/${detailId}/${subA1.id}`, as(keyB)));
    await deniedWith(404, post(`/v1/events/${detailId}/replay`, undefined, as(keyB)));
    await deniedWith(404, post(`/v1/events/${detailId}/replay`, { subscriptionId: subA1.id }, as(keyB)));
    await deniedWith(
      404,
      post('/v1/deliveries/recover', { subscriptionId: subRec.id, since: new Date(0).toISOString() }, as(keyB)),
    );
    await deniedWith(
      404,
      post(
        '/v1/deliveries/recover',
        { subscriptionId: subRec.id, since: new Date(0).toISOString(), dryRun: true },
        as(keyB),
      ),
    );
    // A's subscription filter through B's key: B's scope, so nothing of A.
    expect((await get(`/v1/deliveries?subscriptionId=${subA1.id}`, as(keyB))).json().items).toEqual([]);
    const aJob = await post(
      '/v1/deliveries/recover',
      { subscriptionId: subRec.id, since: new Date(now).toISOString() },
      as(keyA),
    );
    expect(aJob.statusCode).toBe(202);
    await deniedWith(404, get(`/v1/recover-jobs/${aJob.json().id}`, as(keyB)));
    expect((await get(`/v1/recover-jobs/${aJob.json().id}`, as(keyA))).statusCode).toBe(200);
    expect(r.received.length + r2.received.length).toBe(before);
  });
});
