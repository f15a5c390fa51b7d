/**
 * Batched delivery (`batch: { maxEvents, maxWaitMs }`) through the real outbox-processor, broker and HTTP: one
 * signed POST of application/cloudevents-batch+json per batch, every event once, and a failed batch's events retried
 * on their own (each joins a later batch).
 */
import { Webhook } from 'standardwebhooks';
import { waitFor } from '../support/kafka';
import { type Received, type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type Harness, startHarness, whsec } from './harness';

jest.setTimeout(60_000);

const asHeaders = (r: Received) => r.headers as Record<string, string>;
const idsOf = (r: Received) => (JSON.parse(r.body.toString()) as { id: string }[]).map((e) => e.id);

describe('outbox-processor: batched delivery', () => {
  let hub: Harness;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    hub = await startHarness({ maxAttempts: 3, baseDelayMs: 50 });
  });
  afterAll(async () => {
    await hub.stop();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it('sends up to maxEvents events per signed POST, each event once, in the order of its partition', async () => {
    const secret = whsec();
    const r = await startReceiver((req, res) => {
      try {
        new Webhook(secret).verify(req.body.toString(), asHeaders(req));
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
    receivers.push(r);
    const sub = await hub.subscribe({
      endpointUrl: `${r.url}/batch`,
      signingSecret: secret,
      batch: { maxEvents: 10, maxWaitMs: 300 },
    });
    const events = Array.from({ length: 25 }, (_, i) => anEvent({ subject: `users/u${i}` }));
    for (const e of events) await hub.publish(e, sub.id);
    const want = events.map((e) => e.id);
    await waitFor(() => r.received.flatMap(idsOf).length >= want.length, { what: 'every event in some batch' });

    const got = r.received.flatMap(idsOf);
    expect([...got].sort()).toEqual([...want].sort()); // each event once
    expect(got).toEqual(want); // one tenant = one partition: in its order
    expect(r.received.length).toBeLessThan(want.length);
    for (const req of r.received) {
      expect(req.headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8');
      expect(idsOf(req).length).toBeLessThanOrEqual(10);
      expect(() => new Webhook(secret).verify(req.body.toString(), asHeaders(req))).not.toThrow();
      const ids = idsOf(req);
      expect(req.headers['webhook-id']).toEqual(ids.length === 1 ? ids[0] : expect.stringMatching(/^batch_/));
    }
    const first = JSON.parse(r.received[0]!.body.toString())[0];
    expect(first).toMatchObject({ id: want[0], type: 'user.created', tenantid: 'tenant-a', subject: 'users/u0' });
    expect(first.data).toEqual({ userId: 'u1', email: 'u1@example.com' });
    // hub_outbox_batch_events: one observation per batch, of its size.
    const { values } = await hub.metrics.batchEvents.get();
    const stat = (name: string) => values.find((v) => v.metricName === name)?.value;
    expect(stat('hub_outbox_batch_events_count')).toBe(r.received.length);
    expect(stat('hub_outbox_batch_events_sum')).toBe(want.length);
    // Every event's own attempt, answered 204 (the delivery log records one attempt per event).
    await waitFor(() =>
      want.every((id) =>
        hub.audit.entries.some((e) => e.eventId === id && e.stage === 'HTTP_SEND' && e.status === 204),
      ),
    );
  });

  it("retries a failed batch's events on their own: each is delivered once a later batch succeeds", async () => {
    let calls = 0;
    const r = await startReceiver((_req, res) => {
      calls++;
      res.writeHead(calls === 1 ? 503 : 204).end();
    });
    receivers.push(r);
    const sub = await hub.subscribe({ endpointUrl: r.url, batch: { maxEvents: 5, maxWaitMs: 100 } });
    const events = Array.from({ length: 5 }, () => anEvent());
    for (const e of events) await hub.publish(e, sub.id);
    const want = events.map((e) => e.id).sort();
    const delivered = () => r.received.slice(1).flatMap(idsOf);
    await waitFor(() => delivered().length >= want.length, { what: 'the failed batch delivered again' });

    expect(idsOf(r.received[0]!).sort()).toEqual(want); // the first batch: all five, answered 503
    expect([...delivered()].sort()).toEqual(want); // then each once more, in batches answered 204
    for (const id of want) {
      await waitFor(() =>
        hub.audit.entries.some((e) => e.eventId === id && e.stage === 'HTTP_SEND' && e.status === 204),
      );
      const sends = hub.audit.entries.filter((e) => e.eventId === id && e.stage === 'HTTP_SEND');
      expect(sends.map((e) => [e.attempt, e.status])).toEqual([
        [1, 503],
        [2, 204],
      ]);
    }
  });
});
