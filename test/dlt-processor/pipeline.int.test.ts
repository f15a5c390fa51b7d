/**
 * The real path: outbox-processor retries a failing subscriber, dead-letters the record, the dlt-processor
 * persists it, and its scheduled retry delivers once the subscriber recovers.
 */
import { startHarness as startOutbox } from '../outbox-processor/harness';
import { waitFor } from '../support/kafka';
import { startReceiver } from '../support/receiver';
import { anEvent, startDltHarness } from './harness';

jest.setTimeout(90_000);

describe('outbox-processor -> DLT -> dlt-processor', () => {
  it('subscriber answers 500 -> outbox retries -> DLT -> row persisted -> subscriber recovers -> scheduled retry delivers', async () => {
    const outbox = await startOutbox({ maxAttempts: 3, baseDelayMs: 20 });
    // A long first backoff keeps the row waiting until the test lets the subscriber recover.
    const dlt = await startDltHarness({ stage: outbox, intervalMs: 100, baseDelayMs: 100, maxAttempts: 5 });
    let healthy = false;
    const r = await startReceiver((_q, res) => res.writeHead(healthy ? 200 : 500).end());
    try {
      const sub = await outbox.subscribe({ endpointUrl: r.url });
      await waitFor(() => dlt.directory.get(sub.id), { what: 'subscription in the dlt-processor directory' });
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const event = anEvent('tenant-a', { extensions: { tenantid: 'tenant-a', traceparent } });
      await outbox.publish(event, sub.id, 'access');
      const row = () => dlt.db.prisma.failedEvent.findFirst({ where: { eventId: event.id } });
      const stored = await waitFor(row, { what: 'row persisted from the DLT', timeoutMs: 30_000 });
      expect(stored).toMatchObject({ subscriptionId: sub.id, tenantId: 'tenant-a', domain: 'access' });
      expect(stored.failureHeaders).toMatchObject({
        'hub-dlt-attempts': '3',
        'hub-dlt-last-status': '500',
        'hub-dlt-last-error-code': 'DELIVERY.HTTP_500',
      });
      // Outbox attempts (3) plus whatever the scheduler already tried.
      await waitFor(() => r.received.length >= 4, { what: 'a scheduled retry' });
      healthy = true;
      await waitFor(async () => (await row())?.status === 'DELIVERED', { what: 'DELIVERED', timeoutMs: 30_000 });
      expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([event.id]));
      expect(r.received.at(-1)!.headers.traceparent).toBe(traceparent);
      const detail = (
        await dlt.app.inject({
          url: `/v1/failed-events/${stored.id}`,
          headers: { authorization: `Bearer ${dlt.operatorKey}` },
        })
      ).json();
      expect(detail.status).toBe('DELIVERED');
      expect(detail.deliveryAttempts[0]).toMatchObject({ source: 'OUTBOX', statusCode: 500 });
      expect(detail.deliveryAttempts.at(-1)).toMatchObject({ source: 'SCHEDULED', statusCode: 200 });
    } finally {
      await dlt.stop();
      await outbox.stop();
      await r.close();
    }
  });
});
