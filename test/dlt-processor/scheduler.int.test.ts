/** Scheduled retries and operator replays against real HTTP subscribers. */
import { Webhook } from 'standardwebhooks';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { whsec } from '../support/subscriptions';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(90_000);

describe('dlt-processor scheduler', () => {
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
  const op = () => ({ authorization: `Bearer ${hub.operatorKey}` });

  it('delivers on a scheduled retry once the subscriber recovers -> DELIVERED', async () => {
    let healthy = false;
    const r = await receiver((_q, res) => res.writeHead(healthy ? 200 : 500).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.deadLetter(event, sub.id);
    await waitFor(() => r.received.length >= 1, { what: 'first scheduled attempt' });
    expect(await row(event.id)).toMatchObject({
      subscriptionId: sub.id,
      tenantId: 'tenant-a',
      status: 'RETRYING',
    });
    healthy = true;
    await waitFor(async () => (await row(event.id))?.status === 'DELIVERED', { timeoutMs: 20_000, what: 'DELIVERED' });
    expect(r.received.every((x) => x.headers['webhook-id'] === event.id)).toBe(true);
    const stored = (await row(event.id))!;
    expect(stored.resolvedAt).not.toBeNull();
    expect(stored.nextAttemptAt).toBeNull();
    const attempts = await hub.db.prisma.deliveryAttempt.findMany({
      where: { failedEventId: stored.id },
      orderBy: { id: 'asc' },
    });
    expect(attempts[0]!.source).toBe('OUTBOX');
    expect(attempts.slice(1).every((a) => a.source === 'SCHEDULED')).toBe(true);
    expect(attempts.at(-1)).toMatchObject({ source: 'SCHEDULED', statusCode: 200 });
    expect(attempts.length).toBe(1 + r.received.length);
    const audit = hub.audit.entries.filter((e) => e.eventId === event.id);
    expect(audit.filter((e) => e.stage === 'HTTP_SEND')).toHaveLength(r.received.length);
    expect(audit.filter((e) => e.stage === 'EVENT_ERROR').length).toBe(r.received.length - 1);
    expect(audit.at(-1)).toMatchObject({ stage: 'HTTP_SEND', status: 200, outcome: 'delivered', detail: 'SCHEDULED' });
  });

  it('fails at once on a permanent answer (410) without more scheduled attempts', async () => {
    const r = await receiver((_q, res) => res.writeHead(410).end('gone'));
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    // The outbox failed it with a retriable 503; the first scheduled retry meets a 410.
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.HTTP_503', status: 503 });
    await waitFor(async () => (await row(event.id))?.status === 'FAILED', { what: 'FAILED after 410' });
    const stored = (await row(event.id))!;
    expect(stored.reason).toMatch(/permanent failure DELIVERY\.HTTP_410/);
    expect(stored.attempts).toBe(1);
    // Sentinel: a later parked delivery to the same subscriber is attempted (and failed) by the scheduler, so the
    // scheduler has run past the FAILED row; it made no further attempt at it.
    const sentinel = anEvent();
    await hub.deadLetter(sentinel, sub.id, { code: 'DELIVERY.HTTP_503', status: 503 });
    await waitFor(async () => (await row(sentinel.id))?.status === 'FAILED', { what: 'the sentinel FAILED' });
    expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([event.id, sentinel.id]);
    expect((await row(event.id))!.attempts).toBe(1);
    const detail = (await hub.app.inject({ url: `/v1/failed-events/${stored.id}`, headers: op() })).json();
    expect(detail.deliveryAttempts.at(-1)).toMatchObject({
      source: 'SCHEDULED',
      statusCode: 410,
      responseSnippet: 'gone',
    });
  });

  it('exhausts retries to FAILED, then a replay delivers with the same webhook-id and a fresh signature -> REPLAYED', async () => {
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
    expect((await row(event.id))!.reason).toMatch(
      /retry schedule exhausted after 3 scheduled attempts \(last DELIVERY\.HTTP_503\)/,
    );
    healthy = true;
    // Signatures carry a seconds timestamp: let the clock move on so a fresh signature must differ.
    const lastTs = Number(r.received.at(-1)!.headers['webhook-timestamp']);
    await waitFor(() => Math.floor(Date.now() / 1000) > lastTs, { what: 'next second' });
    const id = (await row(event.id))!.id;
    const res = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ delivered: true, status: 'REPLAYED', statusCode: 204 });
    expect(r.received).toHaveLength(4);
    const replayed = r.received.at(-1)!;
    expect(replayed.headers['webhook-id']).toBe(event.id);
    expect(() =>
      new Webhook(secret).verify(replayed.body.toString(), replayed.headers as Record<string, string>),
    ).not.toThrow();
    expect(Number(replayed.headers['webhook-timestamp'])).toBeGreaterThan(lastTs);
    const earlier = new Set(r.received.slice(0, 3).map((x) => x.headers['webhook-signature']));
    expect(earlier.has(replayed.headers['webhook-signature'] as string)).toBe(false);
    expect(replayed.body.toString()).toBe(event.data.toString());

    const again = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() });
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toMatch(/problem\+json/);
    expect(again.json().detail).toMatch(/already REPLAYED/);
    const detail = (await hub.app.inject({ url: `/v1/failed-events/${id}`, headers: op() })).json();
    expect(detail.status).toBe('REPLAYED');
    expect(detail.deliveryAttempts.map((a: { source: string }) => a.source)).toEqual([
      'OUTBOX',
      'SCHEDULED',
      'SCHEDULED',
      'SCHEDULED',
      'REPLAY',
    ]);
    expect(hub.audit.entries.filter((e) => e.eventId === event.id && e.detail === 'REPLAY')).toEqual([
      expect.objectContaining({ stage: 'HTTP_SEND', status: 204, outcome: 'delivered' }),
    ]);
  });

  it('a failed replay answers the failure and leaves the row FAILED', async () => {
    const r = await receiver((_q, res) => res.writeHead(500).end());
    const sub = await hub.subscribe({ endpointUrl: r.url });
    const event = anEvent();
    await hub.deadLetter(event, sub.id, { code: 'DELIVERY.HTTP_410', status: 410 });
    const stored = await waitFor(async () => {
      const x = await row(event.id);
      return x?.status === 'FAILED' ? x : undefined;
    });
    const res = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${stored.id}/replay`, headers: op() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      delivered: false,
      status: 'FAILED',
      statusCode: 500,
      errorCode: 'DELIVERY.HTTP_500',
    });
    expect((await row(event.id))!.reason).toMatch(/replay failed: DELIVERY\.HTTP_500/);
  });

  it('marks a failure whose subscription is unknown or deleted SKIPPED by the gate with the reason, sending nothing', async () => {
    const r = await receiver();
    const sub = await hub.subscribe({ endpointUrl: r.url });
    await hub.unsubscribe(sub.id);
    const deleted = anEvent();
    const unknown = anEvent();
    await hub.deadLetter(deleted, sub.id);
    await hub.deadLetter(unknown, 'sub-that-never-existed');
    for (const e of [deleted, unknown])
      await waitFor(async () => (await row(e.id))?.status === 'SKIPPED', { what: `SKIPPED ${e.id}` });
    expect((await row(deleted.id))!.reason).toMatch(/subscription unknown or deleted/);
    expect((await row(unknown.id))!).toMatchObject({ lastErrorCode: 'GATE.SUBSCRIPTION_GONE' });
    expect(r.received).toHaveLength(0);
    // A replay cannot deliver either: it answers the reason.
    const id = (await row(unknown.id))!.id;
    const res = await hub.app.inject({ method: 'POST', url: `/v1/failed-events/${id}/replay`, headers: op() });
    expect(res.json()).toMatchObject({ delivered: false, status: 'SKIPPED', errorCode: 'GATE.SUBSCRIPTION_GONE' });
    expect(hub.audit.entries.filter((e) => e.eventId === unknown.id && e.stage === 'HTTP_SEND')).toHaveLength(0);
  });

  it('holds a paused subscription’s retries (HELD, nothing sent) and delivers them once it is resumed', async () => {
    const r = await receiver();
    const sub = await hub.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const e = anEvent();
    await hub.deadLetter(e, sub.id);
    await waitFor(async () => (await row(e.id))?.status === 'HELD', { what: 'HELD' });
    expect(r.received).toHaveLength(0);
    await hub.subscribe({ ...sub, status: 'ACTIVE', version: sub.version + 1 });
    await waitFor(async () => (await row(e.id))?.status === 'DELIVERED', { what: 'DELIVERED after resume' });
    expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([e.id]);
  });

  it('ends a deleted subscription’s held deliveries SKIPPED with the reason', async () => {
    const r = await receiver();
    const sub = await hub.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const e = anEvent();
    await hub.deadLetter(e, sub.id);
    await waitFor(async () => (await row(e.id))?.status === 'HELD', { what: 'HELD' });
    await hub.unsubscribe(sub.id);
    await waitFor(async () => (await row(e.id))?.status === 'SKIPPED', { what: 'SKIPPED after delete' });
    expect((await row(e.id))!.reason).toMatch(/deleted while its deliveries were held/);
    expect(r.received).toHaveLength(0);
  });
});

describe('dlt-processor with two scheduler instances', () => {
  it('never delivers one claim twice (counted at the receiver)', async () => {
    const hub = await startDltHarness({ instances: 2, intervalMs: 20, maxAttempts: 1, batchSize: 10 });
    const r = await startReceiver((_q, res) => setTimeout(() => res.writeHead(200).end(), 5));
    try {
      const sub = await hub.subscribe({ endpointUrl: r.url });
      const N = 300;
      await hub.deadLetterMany(
        Array.from({ length: N }, () => anEvent()),
        sub.id,
        'DELIVERY.HTTP_500',
        500,
      );
      await waitFor(async () => (await hub.db.prisma.failedEvent.count({ where: { status: 'DELIVERED' } })) === N, {
        timeoutMs: 60_000,
        what: `${N} DELIVERED`,
      });
      const ids = r.received.map((x) => x.headers['webhook-id']);
      expect(ids).toHaveLength(N);
      expect(new Set(ids).size).toBe(N);
      const attempts = await hub.db.prisma.deliveryAttempt.findMany({ where: { source: 'SCHEDULED' } });
      expect(attempts).toHaveLength(N);
      // Both instances took part, so the claims really competed.
      // (The audit entry follows the row's new status: wait for it rather than read it at once.)
      const sends = () => hub.audit.entries.filter((e) => e.stage === 'HTTP_SEND').length;
      await waitFor(() => sends() >= N, { what: `${N} HTTP_SEND audit entries` });
      expect(sends()).toBe(N);
      const claimers = await hub.claimers();
      expect(claimers.size).toBe(2);
    } finally {
      await hub.stop();
      await r.close();
    }
  });
});
