/**
 * MAX_IN_FLIGHT_BYTES through the real outbox-processor, broker and HTTP: records in flight are bounded by their
 * bytes as well as their count, so large events cannot fill the heap, and a record larger than the whole budget
 * still goes out (alone).
 */
import { waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { anEvent, type Harness, outboxRecord, startHarness } from './harness';

jest.setTimeout(60_000);

const BUDGET = 10_000;

describe('outbox-processor: bytes in flight', () => {
  let hub: Harness;
  let receiver: Receiver;
  let open = 0;
  let maxOpen = 0;
  beforeAll(async () => {
    hub = await startHarness({ maxInFlightBytes: BUDGET });
    // Holds every request 300 ms: whatever the processor lets out at once is open here at once.
    receiver = await startReceiver((_req, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        res.writeHead(204).end();
      }, 300);
    });
  });
  afterAll(async () => {
    await hub.stop();
    await receiver.close();
  });

  it('delivers ~4 KB events two at a time under a 10 KB budget, and an event larger than the budget alone', async () => {
    const sub = await hub.subscribe({ endpointUrl: `${receiver.url}/bytes` });
    const pad = (n: number) => Buffer.from(JSON.stringify({ userId: 'u1', pad: 'x'.repeat(n) }));
    const events = [
      ...Array.from({ length: 6 }, (_, i) => anEvent({ subject: `users/u${i}`, data: pad(4_000) })),
      anEvent({ subject: 'users/big', data: pad(25_000) }),
    ];
    // One tenant, one partition, one produce request: all fetched together, so without the byte bound all seven would be sent at once
    // (the record and endpoint limits allow it).
    await hub.producer.send({
      topic: hub.topics.outbox('user-lifecycle'),
      acks: -1,
      messages: events.map((e) => outboxRecord(e, sub.id)),
    });
    await waitFor(() => receiver.received.length >= events.length, { what: 'every event delivered' });

    const got = receiver.received.map((r) => String(r.headers['webhook-id']));
    expect([...got].sort()).toEqual(events.map((e) => e.id).sort());
    expect(maxOpen).toBe(2); // two ~4.5 KB records fit in 10 KB, a third does not; and two did go out together
    expect(receiver.received.at(-1)!.body.length).toBeGreaterThan(BUDGET); // the oversized one went too
    expect(hub.maxOpenAttempts(`${receiver.url}/bytes`)).toBe(2);
  });
});
