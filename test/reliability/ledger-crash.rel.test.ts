/**
 * Reliability scenario 16 (issue 14): the delivery ledger across SIGKILLs of the outbox-processor (which emits the
 * attempts) and the dlt-processor (whose ledger writer stores them), mid-stream, under the launcher's supervisor.
 * Afterwards every delivery is on record as DELIVERED, no row is doubled, and the ledger's attempts are compared
 * one for one with the requests the subscribers saw. Requests in flight at the instant of a SIGKILL are the one
 * way an attempt can miss the ledger (the process dies between the subscriber's answer and the acknowledged ledger
 * record); the scenario counts them and bounds them by what was in flight.
 *
 * Needs `npm run build` first.
 */
import { pick } from './profile';
import { recordScenario } from './report';
import {
  account,
  createTenant,
  deliveryFigures,
  drain,
  expectNothingLost,
  produceEvents,
  type RelHub,
  startRelHub,
  type Tenant,
  waitUntil,
} from './support/reliability-harness';

jest.setTimeout(pick(600_000, 3_600_000));

describe('delivery ledger across SIGKILLs (reliability scenario 16)', () => {
  let rel: RelHub;
  let t: Tenant | undefined;
  beforeAll(async () => {
    rel = await startRelHub('ledgerkill', { onServiceExit: 'restart' });
  }, 180_000);
  afterAll(async () => {
    await t?.stop();
    await rel?.stop();
  }, 60_000);

  it('keeps the ledger whole when the outbox-processor and the ledger writer are SIGKILLed (scenario 16)', () =>
    rel.withLogs(async () => {
      const events = pick(2_000, 30_000);
      t = await createTenant(rel, ['a', 'b']);
      const tenant = t;
      const stream = produceEvents(rel, tenant.tenantId, events, { perSecond: pick(100, 250) });
      const kills: string[] = [];
      for (const [i, name] of (['outbox-processor', 'dlt-processor', 'outbox-processor'] as const).entries()) {
        await waitUntil(
          `${((i + 1) * 25).toString()}% sent`,
          () => stream.ids.length >= ((i + 1) * events) / 4,
          600_000,
          20,
        );
        process.kill(rel.hub.instances(name)[0]!.child.pid!, 'SIGKILL');
        kills.push(name);
        await waitUntil(
          `${name} back`,
          () => rel.hub.restarts(name) >= kills.filter((k) => k === name).length,
          120_000,
          100,
        );
      }
      await stream.done;
      const r = await drain(rel, tenant.targets, stream.ids, pick(240_000, 900_000));
      const ids = new Set(stream.ids);
      const subOf = new Map(tenant.targets.map((x) => [x.subscriptionId, x.name]));
      // The ledger catches up: every delivery on record, DELIVERED.
      const deliveries = await waitUntil(
        'every delivery DELIVERED in the ledger',
        async () => {
          const rows = (await rel.db.prisma.ledgerDelivery.findMany({ where: { tenantId: tenant.tenantId } })).filter(
            (x) => ids.has(x.eventId),
          );
          return rows.length === events * tenant.targets.length && rows.every((x) => x.status === 'DELIVERED')
            ? rows
            : undefined;
        },
        120_000,
        500,
      ).catch(() => [] as { eventId: string }[]);
      const eventRows = (await rel.db.prisma.ledgerEvent.findMany({ where: { tenantId: tenant.tenantId } })).filter(
        (x) => ids.has(x.eventId),
      );
      const attempts = (
        await rel.db.prisma.ledgerAttempt.findMany({
          where: { tenantId: tenant.tenantId },
          select: { attemptId: true, eventId: true, subscriptionId: true, statusCode: true },
        })
      ).filter((x) => ids.has(x.eventId));
      const doubledEvents = eventRows.length - new Set(eventRows.map((x) => x.eventId)).size;
      const doubledAttempts = attempts.length - new Set(attempts.map((x) => x.attemptId)).size;
      // Receipts vs attempts, per (subscriber, event, status).
      const key = (name: string, id: string, status: number | null) => `${name}|${id}|${status}`;
      const seen = new Map<string, number>();
      for (const x of tenant.targets)
        for (const rc of x.receiver.receipts(x.name)) {
          const id = rc.ce.id ?? rc.webhookId;
          if (ids.has(id)) seen.set(key(x.name, id, rc.status), (seen.get(key(x.name, id, rc.status)) ?? 0) + 1);
        }
      const recorded = new Map<string, number>();
      for (const a of attempts) {
        const k = key(subOf.get(a.subscriptionId)!, a.eventId, a.statusCode);
        recorded.set(k, (recorded.get(k) ?? 0) + 1);
      }
      let missing = 0;
      let extra = 0;
      for (const k of new Set([...seen.keys(), ...recorded.keys()])) {
        const d = (seen.get(k) ?? 0) - (recorded.get(k) ?? 0);
        if (d > 0) missing += d;
        else extra -= d;
      }
      const receipts = [...seen.values()].reduce((a, b) => a + b, 0);
      const final = await account(rel, tenant.targets, stream.ids);
      // Missing attempts can only be requests in flight when an outbox-processor died: at most its in-flight cap.
      const inFlightBound = 2 * 2000;
      const pass =
        final.lost === 0 &&
        deliveries.length === events * tenant.targets.length &&
        eventRows.length === events &&
        doubledEvents === 0 &&
        doubledAttempts === 0 &&
        extra === 0 &&
        missing <= inFlightBound;
      recordScenario({
        id: 'ledger-across-kills',
        order: 16,
        title: 'Delivery ledger across SIGKILLs of the outbox-processor and the ledger writer',
        pass,
        figures: {
          events,
          subscriptions: tenant.targets.length,
          SIGKILLs: kills.join(', '),
          ...deliveryFigures(r),
          'ledger events (distinct)': `${eventRows.length} (${events - doubledEvents})`,
          'ledger deliveries DELIVERED': deliveries.length,
          'receipts / ledger attempts': `${receipts} / ${attempts.length}`,
          'attempts missing (in flight at a kill)': missing,
          'attempts without a receipt': extra,
          'doubled rows (events, attempts)': `${doubledEvents}, ${doubledAttempts}`,
        },
        criteria:
          'nothing lost; every event once and every delivery DELIVERED in the ledger; 0 doubled rows; every ledger attempt matches a receipt (same status); missing attempts only from requests in flight at a SIGKILL (reported)',
      });
      expectNothingLost(r);
      expect(doubledEvents).toBe(0);
      expect(doubledAttempts).toBe(0);
      expect(extra).toBe(0);
      expect(eventRows).toHaveLength(events);
      expect(deliveries).toHaveLength(events * tenant.targets.length);
    }));
});
