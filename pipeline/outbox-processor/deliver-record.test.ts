import { aSnapshot } from '../../test/fixtures/subscriptions';
import { anOutboxItem } from '../../test/outbox-processor/items';
import { ABANDONED, createDeliverStage, type DeliverStageOptions } from './deliver-record';
import type { DeliveryOutcome, OutboxItem } from './handler';

const item = anOutboxItem();
const delivered: DeliveryOutcome = { type: 'delivered', attempts: 1, status: 204 };

/** A handler whose deliveries finish when the test says so; counts the most running at once per endpoint. */
function controlledHandler() {
  const running: { release: () => void }[] = [];
  let now = 0;
  let max = 0;
  let calls = 0;
  const handle = (_: OutboxItem) =>
    new Promise<DeliveryOutcome>((resolve) => {
      calls++;
      max = Math.max(max, ++now);
      running.push({
        release: () => {
          now--;
          resolve(delivered);
        },
      });
    });
  return { handle, running, max: () => max, calls: () => calls };
}

const options = (o: Partial<DeliverStageOptions> & Pick<DeliverStageOptions, 'handle'>): DeliverStageOptions => ({
  perEndpointConcurrency: 2,
  perEndpointQueue: 100,
  maxInFlightPerPartition: 200,
  ...o,
});

describe('deliver stage', () => {
  it('calls the handler and returns its outcome', async () => {
    const deliver = createDeliverStage(options({ handle: async () => delivered }));
    expect(await deliver(item, aSnapshot(), () => true)).toEqual(delivered);
  });

  it('sends a record of an endpoint whose circuit is open to the DLT at once, without calling the handler', async () => {
    const h = controlledHandler();
    const deliver = createDeliverStage(options({ handle: h.handle, breakerOpen: () => true }));
    const outcome = await deliver(item, aSnapshot({ endpointUrl: 'https://sick.example.com/hook' }), () => true);
    expect(outcome).toMatchObject({
      type: 'deadLetter',
      attempts: 0,
      failure: {
        kind: 'retriable',
        code: 'DELIVERY.CIRCUIT_OPEN',
        message: 'circuit open for https://sick.example.com',
      },
    });
    expect(h.calls()).toBe(0);
  });

  it('runs at most perEndpointConcurrency deliveries of one endpoint origin at once', async () => {
    const h = controlledHandler();
    const deliver = createDeliverStage(options({ handle: h.handle, perEndpointConcurrency: 2 }));
    const sub = aSnapshot({ endpointUrl: 'https://busy.example.com/a' });
    const sameOrigin = aSnapshot({ endpointUrl: 'https://busy.example.com/b' });
    const outcomes = [1, 2, 3, 4, 5].map((i) => deliver(item, i % 2 ? sub : sameOrigin, () => true));
    // Release deliveries one at a time as they start, until all five finished.
    let released = 0;
    while (released < 5) {
      await new Promise(setImmediate);
      h.running.shift()?.release();
      released = h.calls() - h.running.length;
    }
    expect(await Promise.all(outcomes)).toEqual([delivered, delivered, delivered, delivered, delivered]);
    expect(h.max()).toBe(2);
  });

  it('sheds a record to the DLT when a stalled endpoint already has its queue full', async () => {
    let clock = 0;
    const h = controlledHandler();
    const deliver = createDeliverStage(
      options({
        handle: h.handle,
        perEndpointConcurrency: 1,
        perEndpointQueue: 1,
        endpointStallMs: 100,
        now: () => clock,
      }),
    );
    const sub = aSnapshot();
    const first = deliver(item, sub, () => true); // takes the slot and hangs
    const second = deliver(item, sub, () => true); // waits: the queue is full now
    clock = 101; // nothing delivered for longer than the stall period
    const third = await deliver(item, sub, () => true);
    expect(third).toMatchObject({ type: 'deadLetter', attempts: 0, failure: { code: 'DELIVERY.ENDPOINT_SATURATED' } });
    h.running.shift()!.release();
    await new Promise(setImmediate);
    h.running.shift()!.release();
    expect(await Promise.all([first, second])).toEqual([delivered, delivered]);
  });

  it('leaves a record to the next owner when it is no longer wanted once its slot is had', async () => {
    const h = controlledHandler();
    const deliver = createDeliverStage(options({ handle: h.handle }));
    expect(await deliver(item, aSnapshot(), () => false)).toBe(ABANDONED);
    expect(h.calls()).toBe(0);
  });
});
