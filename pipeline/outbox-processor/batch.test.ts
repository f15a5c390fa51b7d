import { aSnapshot } from '../../test/fixtures/subscriptions';
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { createBatcher, MAX_BATCH_BYTES } from './batch';

const ev = (id: string, bytes = 10): HubCloudEvent => ({
  specversion: '1.0',
  id,
  source: '//identity',
  type: 'user.created',
  extensions: { tenantid: 'acme' },
  data: Buffer.alloc(bytes, 'x'),
});

/** A manual clock: timers run when the test says so. */
function timers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  return {
    setTimer: (fn: () => void, ms: number) => {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clearTimer: (h: unknown) => pending.delete(h as number),
    fireAll() {
      const due = [...pending.values()];
      pending.clear();
      for (const t of due) t.fn();
    },
    delays: () => [...pending.values()].map((t) => t.ms),
  };
}

function harness(result: DeliveryResult = { outcome: 'delivered', status: 204, durationMs: 3 }) {
  const sent: { ids: string[]; sub: SubscriptionSnapshot }[] = [];
  const t = timers();
  let closing = false;
  const batcher = createBatcher({
    send: async (events, sub) => {
      sent.push({ ids: events.map((e) => e.id), sub });
      return result;
    },
    setTimer: t.setTimer,
    clearTimer: t.clearTimer,
    closing: () => closing,
  });
  return { batcher, sent, t, close: () => (closing = true) };
}

const batched = (maxEvents: number, maxWaitMs = 100, over: Partial<SubscriptionSnapshot> = {}) =>
  aSnapshot({ id: 'sub-b', batch: { maxEvents, maxWaitMs }, ...over });

describe('createBatcher', () => {
  it('sends a batch as soon as it holds maxEvents, and every event gets the batch result', async () => {
    const h = harness();
    const sub = batched(3);
    const results = ['e1', 'e2', 'e3'].map((id) => h.batcher.deliver(ev(id), sub));
    expect(h.sent).toEqual([{ ids: ['e1', 'e2', 'e3'], sub }]);
    const got = await Promise.all(results);
    expect(got.map((r) => [r.outcome, r.status, r.batch])).toEqual([
      ['delivered', 204, { size: 3, leader: true }],
      ['delivered', 204, { size: 3, leader: false }],
      ['delivered', 204, { size: 3, leader: false }],
    ]);
    expect(h.batcher.waiting()).toBe(0);
    expect(h.t.delays()).toEqual([]); // its timer was cleared
  });

  it('sends a partial batch maxWaitMs after its first event, one timer per batch', async () => {
    const h = harness({ outcome: 'failed', status: 503, durationMs: 5, failure: undefined });
    const sub = batched(10, 250);
    const a = h.batcher.deliver(ev('e1'), sub);
    const b = h.batcher.deliver(ev('e2'), sub);
    expect(h.sent).toEqual([]);
    expect(h.t.delays()).toEqual([250]);
    expect(h.batcher.waiting()).toBe(2);
    h.t.fireAll();
    expect(h.sent.map((s) => s.ids)).toEqual([['e1', 'e2']]);
    expect((await a).status).toBe(503);
    expect((await b).batch).toEqual({ size: 2, leader: false });
  });

  it('keeps subscriptions apart, and sends to the newest snapshot of the subscription', () => {
    const h = harness();
    const one = batched(2, 100, { id: 'sub-1' });
    const moved = { ...one, endpointUrl: 'https://moved.example.com/hook', version: 2 };
    void h.batcher.deliver(ev('a1'), one);
    void h.batcher.deliver(ev('b1'), batched(2, 100, { id: 'sub-2' }));
    void h.batcher.deliver(ev('a2'), moved);
    expect(h.sent.map((s) => [s.ids, s.sub.endpointUrl])).toEqual([[['a1', 'a2'], 'https://moved.example.com/hook']]);
    h.t.fireAll();
    expect(h.sent.map((s) => s.ids)).toEqual([['a1', 'a2'], ['b1']]);
  });

  it('starts a new batch rather than going over MAX_BATCH_BYTES', () => {
    const h = harness();
    const sub = batched(1000);
    const big = Math.floor(MAX_BATCH_BYTES / 2);
    void h.batcher.deliver(ev('e1', big), sub);
    void h.batcher.deliver(ev('e2', big), sub); // 2 × (half + envelope) is over the bound
    expect(h.sent.map((s) => s.ids)).toEqual([['e1']]);
    h.t.fireAll();
    expect(h.sent.map((s) => s.ids)).toEqual([['e1'], ['e2']]);
  });

  it('flush() sends every open batch now; once closing, nothing waits for more events', () => {
    const h = harness();
    void h.batcher.deliver(ev('a1'), batched(5, 10_000, { id: 'sub-1' }));
    void h.batcher.deliver(ev('b1'), batched(5, 10_000, { id: 'sub-2' }));
    h.batcher.flush();
    expect(h.sent.map((s) => s.ids)).toEqual([['a1'], ['b1']]);
    expect(h.t.delays()).toEqual([]);
    h.close();
    void h.batcher.deliver(ev('a2'), batched(5, 10_000, { id: 'sub-1' }));
    expect(h.sent.map((s) => s.ids)).toEqual([['a1'], ['b1'], ['a2']]);
  });

  it('a send that throws (a bug) fails every event of the batch retriably instead of leaving it hanging', async () => {
    const t = timers();
    const batcher = createBatcher({
      send: () => Promise.reject(new Error('boom')),
      setTimer: t.setTimer,
      clearTimer: t.clearTimer,
    });
    const sub = batched(2);
    const got = await Promise.all([batcher.deliver(ev('e1'), sub), batcher.deliver(ev('e2'), sub)]);
    expect(got.map((r) => [r.outcome, r.failure?.kind, r.failure?.code])).toEqual([
      ['failed', 'retriable', 'DELIVERY.INTERNAL'],
      ['failed', 'retriable', 'DELIVERY.INTERNAL'],
    ]);
  });
});
