/**
 * The scheduler's ledger records go through the ledger outbox (issue 14; scheduler.ts, ledger-relay.kafka.ts): each
 * step's records are committed with the step, the relay produces them to the ledger topic, the ledger writer stores
 * them and produces the delivery facts. Real broker, real Postgres, real subscribers.
 *
 * - The ledger produce fails (every send throws) while scheduled retries run to the end: the steps wait in the
 *   outbox, none is lost; once produces work again every attempt is in the ledger tables exactly once, matching the
 *   requests the subscribers saw and the parked rows' attempt log, and the facts are there.
 * - The relay dies between the produce and the delete: the same records are produced again, the ledger still holds
 *   each attempt once and counts it once.
 * - A ledger replay (no parked row of its own) records through the same outbox (outboxLedgerSink).
 * - The store's bulk state changes (a paused subscription's held deliveries released on resume, or skipped when it
 *   is deleted) reach the ledger through the same outbox: its status follows the row.
 */
import type { Producer } from 'kafkajs';
import { toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { FACT_TYPES, type FactCloudEvent } from '../../pipeline/shared/facts/fact';
import { LedgerOutboxPrisma, outboxLedgerSink } from '../../pipeline/shared/ledger/ledger-outbox.prisma';
import { decodeLedgerMessage } from '../../pipeline/shared/ledger/ledger-record';
import { createTestDatabase } from '../support/db';
import { consumeAll, recordsIn, waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type DltHarness, startDltHarness } from './harness';

jest.setTimeout(120_000);

/** A subscriber that fails each event's first `failures` requests (503), then answers 204. */
async function flakyReceiver(failures: number): Promise<Receiver> {
  const seen = new Map<string, number>();
  return startReceiver((req, res) => {
    const id = String(req.headers['webhook-id']);
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    res.writeHead(n > failures ? 204 : 503).end();
  });
}

const requestsPer = (r: Receiver) => {
  const m = new Map<string, number>();
  for (const x of r.received) m.set(String(x.headers['webhook-id']), (m.get(String(x.headers['webhook-id'])) ?? 0) + 1);
  return m;
};

/** What Postgres holds for these events: the parked rows' scheduled attempts and the ledger's rows. */
async function books(hub: DltHarness, eventIds: string[]) {
  const prisma = hub.db.prisma;
  const rows = await prisma.failedEvent.findMany({ where: { eventId: { in: eventIds } } });
  const scheduled = await prisma.deliveryAttempt.findMany({
    where: { failedEventId: { in: rows.map((r) => r.id) }, source: 'SCHEDULED' },
  });
  const ledgerAttempts = await prisma.ledgerAttempt.findMany({ where: { eventId: { in: eventIds } } });
  const ledgerDeliveries = await prisma.ledgerDelivery.findMany({ where: { eventId: { in: eventIds } } });
  const outbox = await prisma.ledgerOutbox.count();
  return { rows, scheduled, ledgerAttempts, ledgerDeliveries, outbox };
}

describe('scheduler ledger records through the ledger outbox', () => {
  const receivers: Receiver[] = [];
  let hub: DltHarness | undefined;
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('keeps every scheduled attempt while the ledger produce fails and writes each exactly once when it works again', async () => {
    let broken = true;
    let refused = 0;
    hub = await startDltHarness({
      maxAttempts: 4,
      baseDelayMs: 100,
      intervalMs: 100,
      ledgerOutbox: {
        // The broker away, as the relay sees it: every produce rejects.
        relayProducer: (p) =>
          new Proxy(p, {
            get(target, prop, receiver) {
              if (prop === 'send')
                return (...args: Parameters<Producer['send']>) => {
                  if (broken) {
                    refused++;
                    return Promise.reject(new Error('ledger topic unavailable (test)'));
                  }
                  return target.send(...args);
                };
              return Reflect.get(target, prop, receiver);
            },
          }),
      },
    });
    const h = hub;
    const flaky = await flakyReceiver(2);
    const gone = await startReceiver((_q, res) => res.writeHead(410).end('gone'));
    receivers.push(flaky, gone);
    const subFlaky = await h.subscribe({ endpointUrl: flaky.url });
    const subGone = await h.subscribe({ endpointUrl: gone.url });
    const recovering = Array.from({ length: 30 }, () => anEvent());
    const failing = Array.from({ length: 5 }, () => anEvent());
    const all = [...recovering, ...failing].map((e) => e.id);
    await h.deadLetterMany(recovering, subFlaky.id, 'DELIVERY.HTTP_503', 503);
    await h.deadLetterMany(failing, subGone.id, 'DELIVERY.HTTP_503', 503);

    // Every delivery runs its schedule to the end while no ledger record can be produced.
    await waitFor(
      async () => {
        const rows = await h.db.prisma.failedEvent.findMany({ where: { eventId: { in: all } } });
        return (
          rows.length === all.length &&
          rows.filter((r) => r.status === 'DELIVERED').length === recovering.length &&
          rows.filter((r) => r.status === 'FAILED').length === failing.length
        );
      },
      { timeoutMs: 60_000, what: '30 DELIVERED and 5 FAILED' },
    );
    const during = await books(h, all);
    // 30 x 3 attempts (two 503s, then 204) + 5 x 1 (410): one outbox row per step, committed with it; the relay
    // tried and every produce was refused, so none of them is in the ledger (and none is gone).
    expect(during.scheduled).toHaveLength(95);
    expect(flaky.received).toHaveLength(90);
    expect(gone.received).toHaveLength(5);
    expect(refused).toBeGreaterThan(0);
    expect(h.relay!.failures()).toBeGreaterThan(0);
    expect(during.outbox).toBe(95);
    expect(during.ledgerAttempts).toHaveLength(0);

    broken = false;
    h.relay!.nudge();
    const after = await waitFor(
      async () => {
        const b = await books(h, all);
        return b.outbox === 0 && b.ledgerAttempts.length >= 95 && b.ledgerDeliveries.length === all.length
          ? b
          : undefined;
      },
      { timeoutMs: 30_000, what: 'the outbox relayed and written' },
    );

    // Exactly once: one ledger attempt per request the subscribers saw and per attempt row of the parked delivery.
    expect(after.ledgerAttempts).toHaveLength(95);
    expect(new Set(after.ledgerAttempts.map((a) => a.attemptId)).size).toBe(95);
    const seen = new Map([...requestsPer(flaky), ...requestsPer(gone)]);
    const rowOf = new Map(after.rows.map((r) => [r.id, r]));
    for (const id of all) {
      const attempts = after.ledgerAttempts.filter((a) => a.eventId === id);
      const logged = after.scheduled.filter((a) => rowOf.get(a.failedEventId)?.eventId === id);
      expect({ id, ledger: attempts.length, logged: logged.length }).toEqual({
        id,
        ledger: seen.get(id),
        logged: seen.get(id),
      });
      expect(attempts.every((a) => a.source === 'SCHEDULED')).toBe(true);
      expect(attempts.map((a) => a.attempt).sort()).toEqual(Array.from({ length: attempts.length }, (_, i) => i + 1));
    }
    for (const d of after.ledgerDeliveries) {
      const delivered = recovering.some((e) => e.id === d.eventId);
      expect(d).toMatchObject(
        delivered
          ? { subscriptionId: subFlaky.id, status: 'DELIVERED', attempts: 3, lastStatusCode: 204 }
          : { subscriptionId: subGone.id, status: 'FAILED', attempts: 1, lastStatusCode: 410 },
      );
    }
    expect(after.ledgerAttempts.map((a) => a.statusCode).sort()).toEqual(
      [...Array(60).fill(503), ...Array(30).fill(204), ...Array(5).fill(410)].sort(),
    );

    // Delivery facts still come from the ledger path: one WebhookDelivered per delivered, one IntegrationFailed
    // per failed delivery (the writer produces them before it commits the ledger offsets).
    const factTopics = [h.topics.facts.webhooks, h.topics.facts.failures];
    await waitFor(async () => (await recordsIn(factTopics)) >= all.length, { what: '35 facts', timeoutMs: 30_000 });
    const facts = (await consumeAll(factTopics, { count: await recordsIn(factTopics) })).map(
      (r) => JSON.parse(r.value!.toString('utf8')) as FactCloudEvent,
    );
    const factIds = (type: string) =>
      new Set(facts.filter((f) => f.type === type).map((f) => String(f.data.payload.webhookEventId)));
    expect(factIds(FACT_TYPES.delivered)).toEqual(new Set(recovering.map((e) => e.id)));
    expect(factIds(FACT_TYPES.failed)).toEqual(new Set(failing.map((e) => e.id)));
  });

  it('a relay that dies between the produce and the delete sends the records again; the ledger counts each once', async () => {
    let crashes = 0;
    hub = await startDltHarness({
      maxAttempts: 3,
      baseDelayMs: 100,
      intervalMs: 100,
      ledgerOutbox: {
        afterProduce: async () => {
          // The first two batches are produced, then the relay "dies" before its transaction commits.
          if (crashes < 2) {
            crashes++;
            throw new Error('relay killed after the produce (test)');
          }
        },
      },
    });
    const h = hub;
    const flaky = await flakyReceiver(1);
    receivers.push(flaky);
    const sub = await h.subscribe({ endpointUrl: flaky.url });
    const events = Array.from({ length: 20 }, () => anEvent());
    const ids = events.map((e) => e.id);
    await h.deadLetterMany(events, sub.id, 'DELIVERY.HTTP_503', 503);

    const after = await waitFor(
      async () => {
        const b = await books(h, ids);
        return b.rows.every((r) => r.status === 'DELIVERED') &&
          b.rows.length === ids.length &&
          b.outbox === 0 &&
          b.ledgerAttempts.length >= 40 &&
          b.ledgerDeliveries.every((d) => d.status === 'DELIVERED')
          ? b
          : undefined;
      },
      { timeoutMs: 60_000, what: '20 DELIVERED, the outbox relayed and written' },
    );
    expect(crashes).toBe(2);
    expect(flaky.received).toHaveLength(40);
    expect(after.ledgerAttempts).toHaveLength(40);
    expect(after.ledgerDeliveries).toHaveLength(20);
    for (const d of after.ledgerDeliveries) expect(d).toMatchObject({ status: 'DELIVERED', attempts: 2 });

    // The topic holds some attempts twice (the batches produced before each "crash"); the tables hold them once.
    const onTopic = (await consumeAll(h.topics.ledger, { count: await recordsIn([h.topics.ledger]) })).flatMap(
      (r) => decodeLedgerMessage(r.value).records,
    );
    const attemptIds = onTopic.flatMap((r) => (r.kind === 'attempt' ? [r.attemptId] : []));
    expect(new Set(attemptIds)).toEqual(new Set(after.ledgerAttempts.map((a) => a.attemptId)));
    expect(attemptIds.length).toBeGreaterThan(40);
  });

  it('follows the bulk state changes: held, then released on resume (RETRYING → DELIVERED) or skipped on delete (SKIPPED)', async () => {
    hub = await startDltHarness({ intervalMs: 100, ledgerOutbox: {} });
    const h = hub;
    const r = await startReceiver();
    receivers.push(r);
    const ledgerStatus = async (eventId: string) =>
      (await h.db.prisma.ledgerDelivery.findFirst({ where: { eventId } }))?.status;
    const resumed = await h.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const deleted = await h.subscribe({ endpointUrl: r.url, status: 'PAUSED' });
    const a = anEvent();
    const b = anEvent();
    await h.deadLetter(a, resumed.id);
    await h.deadLetter(b, deleted.id);
    await waitFor(async () => (await ledgerStatus(a.id)) === 'HELD' && (await ledgerStatus(b.id)) === 'HELD', {
      what: 'both deliveries HELD in the ledger',
    });
    await h.unsubscribe(deleted.id);
    await waitFor(async () => (await ledgerStatus(b.id)) === 'SKIPPED', {
      what: 'the deleted subscription’s held delivery SKIPPED in the ledger (skipUnresolved)',
    });
    const skipped = await h.db.prisma.ledgerDelivery.findFirst({ where: { eventId: b.id } });
    expect(skipped!.reason).toMatch(/deleted while its deliveries were held/);
    await h.subscribe({ ...resumed, status: 'ACTIVE', version: resumed.version + 1 });
    await waitFor(async () => (await ledgerStatus(a.id)) === 'DELIVERED', { what: 'the resumed delivery DELIVERED' });
    expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([a.id]);
    // The release itself was recorded too (HELD → RETRYING) before the attempt that delivered it.
    const topic = (await consumeAll(h.topics.ledger, { count: await recordsIn([h.topics.ledger]) })).flatMap(
      (x) => decodeLedgerMessage(x.value).records,
    );
    // In the order of their `at` (the writer applies the latest state; the topic's order is not a contract).
    const statesOfA = topic
      .flatMap((x) => (x.kind === 'delivery' && x.eventId === a.id ? [x] : []))
      .sort((x, y) => Date.parse(x.at) - Date.parse(y.at))
      .map((x) => x.status);
    expect(statesOfA).toEqual(['HELD', 'RETRYING', 'DELIVERED']);
  });

  it('records a ledger replay through the same outbox: its attempt and the delivery state reach the ledger', async () => {
    const db = await createTestDatabase();
    const sink = outboxLedgerSink(new LedgerOutboxPrisma(db.prisma), () => hub?.relay?.nudge());
    hub = await startDltHarness({ db, scheduler: false, ledgerOutbox: {}, ledger: sink });
    const h = hub;
    const r = await startReceiver();
    receivers.push(r);
    const sub = await h.subscribe({ endpointUrl: r.url });
    const ev = anEvent();
    const bin = toKafkaBinary(ev);
    const receivedAt = new Date().toISOString();
    // The event as the event-processor records it (here through the same sink: outbox, relay, writer).
    await sink.emit([
      {
        kind: 'event',
        at: receivedAt,
        eventId: ev.id,
        tenantId: 'tenant-a',
        type: ev.type,
        source: ev.source,
        match: { sourceService: 'identity', eventType: ev.type, resourceType: 'USER', operationType: 'CREATE' },
        domain: 'user-lifecycle',
        receivedAt,
        subscriptionIds: [sub.id],
        payload: { headers: bin.headers, body: ev.data.toString('base64') },
      },
    ]);
    await waitFor(async () => (await h.db.prisma.ledgerEvent.count({ where: { eventId: ev.id } })) === 1, {
      what: 'the event in the ledger',
    });
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/events/${ev.id}/replay`,
      headers: { authorization: `Bearer ${h.operatorKey}` },
      payload: { subscriptionId: sub.id },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toEqual([expect.objectContaining({ subscriptionId: sub.id, delivered: true })]);
    const attempt = await waitFor(
      () => h.db.prisma.ledgerAttempt.findFirst({ where: { eventId: ev.id, source: 'REPLAY' } }),
      { what: 'the replay attempt in the ledger' },
    );
    expect(attempt).toMatchObject({ subscriptionId: sub.id, statusCode: 204 });
    expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([ev.id]);
    await waitFor(
      async () =>
        (await h.db.prisma.ledgerDelivery.findFirst({ where: { eventId: ev.id, status: 'DELIVERED', attempts: 1 } })) &&
        (await h.db.prisma.ledgerOutbox.count()) === 0,
      { what: 'the delivery DELIVERED and the outbox empty' },
    );
  });
});

describe('the ledger outbox take (Postgres)', () => {
  let hub: DltHarness | undefined;
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
  });
  const delivery = (i: number, pad = 0) => ({
    kind: 'delivery' as const,
    at: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
    eventId: `evt-${i}`,
    tenantId: 'tenant-a',
    subscriptionId: 'sub-1',
    receivedAt: new Date(Date.UTC(2026, 11, 1)).toISOString(),
    status: 'FAILED' as const,
    reason: `x`.repeat(pad),
    attempts: 1,
    lastStatusCode: 500,
    nextAttemptAt: null,
  });

  it('takes the oldest rows up to its byte bound (at least one), and the rest on the next take', async () => {
    const db = await createTestDatabase();
    try {
      const outbox = new LedgerOutboxPrisma(db.prisma);
      for (let i = 0; i < 10; i++) await outbox.append([delivery(i, 1000), delivery(100 + i, 1000)]);
      const rowBytes = (await db.prisma.ledgerOutbox.findFirstOrThrow()).records.length;
      const published: string[][] = [];
      const publish = async (encoded: Buffer[]) => {
        published.push(encoded.map((b) => (JSON.parse(b.toString()) as { eventId: string }).eventId));
      };
      // Room for 2.5 rows: two are taken, eight wait.
      const first = await outbox.relay(500, publish, Math.floor(rowBytes * 2.5));
      expect(first).toEqual({ rows: 2, rejected: [], more: true });
      expect(published).toEqual([['evt-0', 'evt-100', 'evt-1', 'evt-101']]);
      expect(await db.prisma.ledgerOutbox.count()).toBe(8);
      // A bound below one row still takes one: no row is too large to move.
      const second = await outbox.relay(500, publish, 10);
      expect(second.rows).toBe(1);
      expect(published[1]).toEqual(['evt-2', 'evt-102']);
      // No bytes bound hit, fewer rows than the limit: all of them, and nothing more waits.
      expect(await outbox.relay(500, publish)).toEqual({ rows: 7, rejected: [], more: false });
      expect(published.flat()).toHaveLength(20);
      expect(await outbox.pending()).toBe(false);
    } finally {
      await db.drop();
    }
  });

  it('sets a row it cannot read aside with the reason; the rows behind it reach the ledger', async () => {
    const db = await createTestDatabase();
    hub = await startDltHarness({ db, scheduler: false, ledgerOutbox: {} });
    const h = hub;
    // Written by hand, out of band: not a JSON array of records.
    await db.prisma.$executeRaw`INSERT INTO "LedgerOutbox" ("records") VALUES ('{"kind":"delivery"')`;
    await db.prisma.$executeRaw`INSERT INTO "LedgerOutbox" ("records") VALUES ('{"kind":"delivery"}')`;
    const outbox = new LedgerOutboxPrisma(db.prisma);
    await outbox.append([delivery(1)]);
    h.relay!.nudge();
    await waitFor(async () => (await db.prisma.ledgerDelivery.count({ where: { eventId: 'evt-1' } })) === 1, {
      what: 'the row behind the unreadable ones in the ledger',
    });
    const aside = await db.prisma.ledgerOutbox.findMany({ orderBy: { id: 'asc' } });
    expect(aside.map((r) => r.rejectedReason)).toEqual([
      expect.stringContaining('records is not JSON'),
      'records is not a JSON array (object)',
    ]);
    expect(await outbox.pending()).toBe(false); // the idle poll does not spin on them
  });
});
