/**
 * Issue 13, "routine failures never need a person", on the real path in-process: outbox-processor (short in-process
 * attempts, the delivery gate, ordered lanes parked in Postgres) -> DLT topic -> dlt-processor (durable schedule,
 * held deliveries, the gate again) -> the subscriber. Real broker, real Postgres, real HTTP subscribers.
 */
import type { HubCloudEvent } from '../../pipeline/shared/cloudevents/envelope';
import { FailureStorePrisma } from '../../pipeline/shared/parked/failure-store.prisma';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { startHarness as startOutbox } from '../outbox-processor/harness';
import { createTestDatabase } from '../support/db';
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, startDltHarness } from './harness';

jest.setTimeout(120_000);

type Outbox = Awaited<ReturnType<typeof startOutbox>>;
type Dlt = Awaited<ReturnType<typeof startDltHarness>>;

/** Outbox and dlt-processor on one test database; short schedules so the scenarios run in seconds. */
async function startPath(o: {
  schedule: number[];
  orderedLaneQueue?: number;
  laneStallMs?: number;
  maxInFlightPerPartition?: number;
}) {
  const db = await createTestDatabase();
  const outbox = await startOutbox({
    maxAttempts: 2,
    baseDelayMs: 20,
    maxDelayMs: 100,
    lanes: new FailureStorePrisma(db.prisma),
    schedule: o.schedule,
    orderedLaneQueue: o.orderedLaneQueue,
    laneStallMs: o.laneStallMs,
    maxInFlightPerPartition: o.maxInFlightPerPartition,
  });
  const dlt = await startDltHarness({ stage: outbox, db, schedule: o.schedule, intervalMs: 200 });
  return { outbox, dlt, db };
}

const rows = (dlt: Dlt, where: object) => dlt.db.prisma.failedEvent.findMany({ where, orderBy: { createdAt: 'asc' } });
const ids = (r: Receiver) => r.received.map((x) => String(x.headers['webhook-id']));
/**
 * A subscriber that answers 503 while `failing(id)` says so, else 204, and keeps the webhook-ids it answered 2xx,
 * in arrival order, with the time: what was delivered, as opposed to what was only attempted.
 */
async function okReceiver(failing: (id: string) => boolean = () => false) {
  const ok: { id: string; at: number }[] = [];
  const r = await startReceiver((q, res) => {
    const id = String(q.headers['webhook-id']);
    if (failing(id)) return res.writeHead(503).end();
    ok.push({ id, at: Date.now() });
    res.writeHead(204).end();
  });
  return { r, ok, okIds: () => ok.map((x) => x.id) };
}
const events = (n: number, tenant = 'tenant-a') => Array.from({ length: n }, () => anEvent(tenant));
async function publishAll(outbox: Outbox, evs: HubCloudEvent[], subId: string) {
  for (const e of evs) await outbox.publish(e, subId);
}
/** A positive sentinel: the directory of both stages has the subscription in this version. */
async function subscribeBoth(p: { outbox: Outbox; dlt: Dlt }, spec: Partial<SubscriptionSnapshot>) {
  const sub = await p.outbox.subscribe(spec);
  await waitFor(() => p.dlt.directory.get(sub.id)?.version === sub.version, { what: 'subscription in the dlt view' });
  return sub;
}

describe('bad days need no person (issue 13)', () => {
  let path: Awaited<ReturnType<typeof startPath>> | undefined;
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await path?.outbox.stop();
    await path?.dlt.stop();
    for (const r of receivers.splice(0)) await r.close();
    path = undefined;
  });

  it('an outage while events flow ends with every event delivered after recovery, no API call, 0 FAILED', async () => {
    path = await startPath({ schedule: [500, 1000, 2000, 4000, 8000, 8000, 8000] });
    const { outbox, dlt } = path;
    let down = true;
    const { r, ok, okIds } = await okReceiver(() => down);
    receivers.push(r);
    const sub = await subscribeBoth(path, { endpointUrl: r.url });
    const evs = events(20);
    const outageMs = 6000;
    const started = Date.now();
    for (const [i, e] of evs.entries()) {
      await outbox.publish(e, sub.id);
      await new Promise((res) => setTimeout(res, Math.max(0, started + (i * outageMs) / evs.length - Date.now())));
    }
    await waitFor(async () => (await rows(dlt, { subscriptionId: sub.id })).length === evs.length, {
      what: 'every event parked in the durable schedule',
      timeoutMs: 30_000,
    });
    expect(ok).toHaveLength(0);
    down = false;
    const recoveredAt = Date.now();
    await waitFor(() => new Set(okIds()).size === evs.length, {
      what: 'every event delivered after recovery',
      timeoutMs: 60_000,
    });
    const lastAt = Math.max(...ok.map((x) => x.at));
    console.log(`outage ${outageMs} ms, ${evs.length} events: recovery to last delivery ${lastAt - recoveredAt} ms`);
    expect(r.received.length).toBeGreaterThan(evs.length); // attempts during the outage, then the deliveries
    expect(new Set(okIds())).toEqual(new Set(evs.map((e) => e.id)));
    const stored = await waitFor(
      async () => {
        const all = await rows(dlt, { subscriptionId: sub.id });
        return all.every((x) => x.status === 'DELIVERED') ? all : undefined;
      },
      { what: 'every parked row DELIVERED' },
    );
    expect(stored.filter((x) => x.status === 'FAILED')).toHaveLength(0);
  });

  it('pause holds: paused, N events, resumed: all N delivered (then the next one), none lost', async () => {
    path = await startPath({ schedule: [1000, 1000] });
    const { outbox, dlt } = path;
    const r = await startReceiver();
    receivers.push(r);
    const sub = await subscribeBoth(path, { endpointUrl: r.url, status: 'PAUSED' });
    const held = events(20);
    await publishAll(outbox, held, sub.id);
    await waitFor(async () => (await rows(dlt, { subscriptionId: sub.id, status: 'HELD' })).length === 20, {
      what: '20 HELD deliveries',
      timeoutMs: 30_000,
    });
    // Held is visible: the metric per subscription.
    await dlt.gauges.refresh();
    expect((await dlt.metrics.held.get()).values).toEqual([
      expect.objectContaining({ labels: { subscription_id: sub.id }, value: 20 }),
    ]);
    await subscribeBoth(path, { ...sub, status: 'ACTIVE', version: sub.version + 1 });
    const after = anEvent('tenant-a');
    await outbox.publish(after, sub.id);
    await waitFor(() => new Set(ids(r)).size === 21, { what: '21 deliveries', timeoutMs: 30_000 });
    expect(new Set(ids(r))).toEqual(new Set([...held, after].map((e) => e.id)));
  });

  it('pause holds an ordered subscription in order: paused, 20 events, resumed: received 1..20 then 21', async () => {
    path = await startPath({ schedule: [1000, 1000] });
    const { outbox, dlt } = path;
    const r = await startReceiver();
    receivers.push(r);
    const sub = await subscribeBoth(path, { endpointUrl: r.url, status: 'PAUSED', ordered: true });
    const held = events(20);
    await publishAll(outbox, held, sub.id);
    await waitFor(async () => (await rows(dlt, { subscriptionId: sub.id, status: 'HELD' })).length === 20, {
      what: '20 HELD deliveries in the lane',
      timeoutMs: 30_000,
    });
    await subscribeBoth(path, { ...sub, status: 'ACTIVE', version: sub.version + 1 });
    const after = anEvent('tenant-a');
    await outbox.publish(after, sub.id);
    await waitFor(() => r.received.length >= 21, { what: '21 deliveries', timeoutMs: 30_000 });
    expect(ids(r)).toEqual([...held, after].map((e) => e.id));
  });

  it('ordered lane of 20 where event 5 fails until the endpoint recovers: received 1..20 in order', async () => {
    path = await startPath({ schedule: [1000, 1000, 1000, 1000, 1000, 1000] });
    const { outbox, dlt } = path;
    const evs = events(20);
    let failing = true;
    const { r, okIds } = await okReceiver((id) => failing && id === evs[4]!.id);
    receivers.push(r);
    // A healthy subscription of the same tenant, on the same partition: never held back by the lane.
    const healthy = await startReceiver();
    receivers.push(healthy);
    const sub = await subscribeBoth(path, { endpointUrl: r.url, ordered: true });
    const other = await subscribeBoth(path, { endpointUrl: healthy.url });
    for (const e of evs) {
      await outbox.publish(e, sub.id);
      await outbox.publish(e, other.id);
    }
    await waitFor(() => healthy.received.length === 20, { what: 'the healthy subscription got all 20' });
    // The lane is blocked at event 5; 6..20 wait behind it (parked in order), visible in the lanes API.
    const lanes = await waitFor(
      async () => {
        const res = await dlt.app.inject({
          url: `/v1/lanes?subscriptionId=${sub.id}`,
          headers: { authorization: `Bearer ${dlt.operatorKey}` },
        });
        const body = res.json() as { items: { waiting: number; head: { eventId: string } }[] };
        return body.items[0]?.waiting === 16 ? body : undefined;
      },
      { what: 'the blocked lane with 16 waiting', timeoutMs: 30_000 },
    );
    expect(lanes.items[0]!.head.eventId).toBe(evs[4]!.id);
    failing = false;
    await waitFor(() => new Set(okIds()).size === 20, { what: 'all 20 delivered', timeoutMs: 30_000 });
    // Delivered exactly once each, in order; event 5 was also attempted (and refused) while the endpoint failed it.
    expect(okIds()).toEqual(evs.map((e) => e.id));
    expect(ids(r).filter((id) => id === evs[4]!.id).length).toBeGreaterThan(1);
  });

  it('a hanging ordered endpoint takes only its share of the partition; its lane is parked in order and follows', async () => {
    // A lane counts as stalled as soon as its head is running (laneStallMs 0): the share applies at once.
    path = await startPath({ schedule: [1000, 1000, 1000, 1000], orderedLaneQueue: 3, laneStallMs: 0 });
    const { outbox, dlt } = path;
    let hanging = true;
    const held: { id: string; res: import('node:http').ServerResponse }[] = [];
    const ok: string[] = [];
    const r = await startReceiver((q, res) => {
      if (hanging) return held.push({ id: String(q.headers['webhook-id']), res });
      ok.push(String(q.headers['webhook-id']));
      res.writeHead(204).end();
    });
    receivers.push(r);
    const healthy = await startReceiver();
    receivers.push(healthy);
    const sub = await subscribeBoth(path, { endpointUrl: r.url, ordered: true });
    const other = await subscribeBoth(path, { endpointUrl: healthy.url });
    const evs = events(20);
    for (const e of evs) {
      await outbox.publish(e, sub.id);
      await outbox.publish(e, other.id);
    }
    // The healthy subscription on the same partition gets everything while the ordered head hangs...
    await waitFor(() => healthy.received.length === 20, { what: 'the healthy subscription got all 20' });
    // ...because the lane's records beyond its share were parked (LANE_WAIT) instead of holding slots.
    await waitFor(
      async () => (await rows(dlt, { subscriptionId: sub.id, lastErrorCode: 'DELIVERY.LANE_WAIT' })).length > 0,
      { what: 'records of the hanging lane parked beyond its share' },
    );
    hanging = false;
    // The head's attempt still open is answered now: it may be the head's delivery.
    for (const h of held.splice(0)) {
      ok.push(h.id);
      h.res.writeHead(204).end();
    }
    await waitFor(() => new Set(ok).size === 20, { what: 'all 20 delivered', timeoutMs: 60_000 });
    expect(ok.filter((id, i, all) => all.indexOf(id) === i)).toEqual(evs.map((e) => e.id));
  });

  it('an operator releases a blocked lane by skipping its head; the rest follow in order', async () => {
    path = await startPath({ schedule: [60_000] });
    const { outbox, dlt } = path;
    const evs = events(5);
    const r = await startReceiver((q, res) => res.writeHead(q.headers['webhook-id'] === evs[1]!.id ? 503 : 204).end());
    receivers.push(r);
    const sub = await subscribeBoth(path, { endpointUrl: r.url, ordered: true });
    await publishAll(outbox, evs, sub.id);
    await waitFor(async () => (await rows(dlt, { subscriptionId: sub.id })).length === 4, {
      what: 'event 2 parked as head, 3..5 behind it',
      timeoutMs: 30_000,
    });
    const tenantKey = await dlt.tenantKey('tenant-b');
    const foreign = await dlt.app.inject({
      method: 'POST',
      url: '/v1/lanes/release',
      headers: { authorization: `Bearer ${tenantKey}` },
      payload: { subscriptionId: sub.id, tenantId: 'tenant-a', action: 'SKIP' },
    });
    expect(foreign.statusCode).toBe(403);
    const res = await dlt.app.inject({
      method: 'POST',
      url: '/v1/lanes/release',
      headers: { authorization: `Bearer ${dlt.operatorKey}` },
      payload: { subscriptionId: sub.id, tenantId: 'tenant-a', action: 'SKIP' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().released).toMatchObject({ eventId: evs[1]!.id, status: 'SKIPPED' });
    await waitFor(() => r.received.filter((x) => x.headers['webhook-id'] !== evs[1]!.id).length === 4, {
      what: 'events 1, 3, 4, 5 delivered',
    });
    expect(r.received.map((x) => x.headers['webhook-id']).filter((id) => id !== evs[1]!.id)).toEqual(
      [evs[0], evs[2], evs[3], evs[4]].map((e) => e!.id),
    );
  });

  it('a forged record naming another tenant’s subscription reaches it through no path; the reason is recorded', async () => {
    path = await startPath({ schedule: [200, 200] });
    const { outbox, dlt } = path;
    const victim = await startReceiver();
    receivers.push(victim);
    const marker = await startReceiver();
    receivers.push(marker);
    const victimSub = await subscribeBoth(path, { endpointUrl: victim.url, tenantId: 'tenant-b' });
    const markerSub = await subscribeBoth(path, { endpointUrl: marker.url, tenantId: 'tenant-a' });
    // 1. Through the outbox: a tenant-a record that names tenant-b's subscription.
    const forged = anEvent('tenant-a');
    await outbox.publish(forged, victimSub.id);
    // 2. Through the durable schedule: a DLT record of the same kind.
    const forged2 = anEvent('tenant-a');
    await dlt.deadLetter(forged2, victimSub.id);
    // Positive sentinel: a record after them all, delivered.
    const sentinel = anEvent('tenant-a');
    await outbox.publish(sentinel, markerSub.id);
    await waitFor(() => marker.received.length === 1, { what: 'the sentinel delivered' });
    const skipped = await waitFor(
      async () => {
        const all = await rows(dlt, { subscriptionId: victimSub.id });
        return all.length === 2 && all.every((x) => x.status === 'SKIPPED') ? all : undefined;
      },
      { what: 'both forged records SKIPPED', timeoutMs: 30_000 },
    );
    for (const row of skipped) expect(row.reason).toMatch(/tenant does not match/);
    // 3. Through replay, single and bulk: still refused.
    const replay = await dlt.app.inject({
      method: 'POST',
      url: `/v1/failed-events/${skipped[0]!.id}/replay`,
      headers: { authorization: `Bearer ${dlt.operatorKey}` },
    });
    expect(replay.json()).toMatchObject({ delivered: false, status: 'SKIPPED', errorCode: 'GATE.TENANT_MISMATCH' });
    const bulk = await dlt.app.inject({
      method: 'POST',
      url: '/v1/failed-events/replay',
      headers: { authorization: `Bearer ${dlt.operatorKey}` },
      payload: { subscriptionId: victimSub.id, status: 'SKIPPED' },
    });
    expect(bulk.statusCode).toBe(202);
    await waitFor(
      async () =>
        (
          await dlt.app.inject({
            url: `/v1/replay-jobs/${bulk.json().id}`,
            headers: { authorization: `Bearer ${dlt.operatorKey}` },
          })
        ).json().status === 'COMPLETED',
      { what: 'bulk replay done' },
    );
    expect(victim.received).toHaveLength(0);
  });
});
