import { aSnapshot } from '../../test/fixtures/subscriptions';
import { memoryAuditSink } from '../shared/audit/audit';
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import { CircuitBreaker } from '../shared/delivery/circuit-breaker';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { permanent, retriable } from '../shared/errors';
import { memoryDirectory } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { createDeliveryHandler, type DeliveryHandlerDeps } from './handler';

const event: HubCloudEvent = {
  specversion: '1.0',
  id: 'evt-1',
  source: '//identity',
  type: 'user.created',
  extensions: { tenantid: 'tenant-a', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  data: Buffer.from('{}'),
};
const ok = (status = 204): DeliveryResult => ({ outcome: 'delivered', status, durationMs: 1, responseSnippet: '' });
const http = (status: number, retryAfterMs?: number): DeliveryResult => ({
  outcome: 'failed',
  status,
  durationMs: 1,
  responseSnippet: '',
  failure:
    status >= 500 || status === 429
      ? retriable(`DELIVERY.HTTP_${status}`, 'x', { status, retryAfterMs })
      : permanent(`DELIVERY.HTTP_${status}`, 'x', { status }),
});

function setup(
  results: DeliveryResult[],
  subs: SubscriptionSnapshot[] = [aSnapshot()],
  extra: Partial<DeliveryHandlerDeps> = {},
) {
  let clock = 0;
  const sleeps: number[] = [];
  const attempts: SubscriptionSnapshot[] = [];
  const audit = memoryAuditSink();
  const breaker = new CircuitBreaker(
    { windowMs: 10_000, minRequests: 1000, failureRatio: 0.5, openMs: 1000, halfOpenProbes: 1 },
    () => clock,
  );
  const handle = createDeliveryHandler({
    directory: memoryDirectory(subs),
    deliver: async (_e, s) => {
      attempts.push(s);
      return results.shift() ?? ok();
    },
    policy: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 10_000, maxTotalMs: 60_000 },
    breakerFor: () => breaker,
    audit,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => new Date(clock),
    random: () => 0.5,
    ...extra,
  });
  return { handle, sleeps, attempts, audit };
}

const item = { event, subscriptionId: 'sub-1', tenantId: 'tenant-a' };

describe('delivery handler', () => {
  it('delivers on the first 2xx and audits OUTBOX_SEND and HTTP_SEND', async () => {
    const { handle, audit } = setup([ok(200)]);
    expect(await handle(item)).toEqual({
      type: 'delivered',
      attempts: 1,
      status: 200,
      // Each attempt, for the delivery ledger.
      tries: [{ at: new Date(0), durationMs: 1, status: 200, errorCode: undefined, responseSnippet: '' }],
    });
    expect(audit.entries.map((e) => e.stage)).toEqual(['OUTBOX_SEND', 'HTTP_SEND']);
    expect(audit.entries[1]).toMatchObject({ status: 200, attempt: 1, traceId: '0af7651916cd43dd8448eb211c80319c' });
  });

  it('retries retriable failures with backoff, then dead-letters after maxAttempts', async () => {
    const { handle, sleeps } = setup([http(500), http(502), http(503)]);
    const out = await handle(item);
    expect(out).toMatchObject({
      type: 'deadLetter',
      attempts: 3,
      lastStatus: 503,
      failure: { code: 'DELIVERY.HTTP_503' },
    });
    expect(sleeps).toEqual([50, 100]); // full jitter at random()=0.5 of 100 ms and 200 ms ceilings
  });

  it('honours Retry-After, and recovers when a retry succeeds', async () => {
    const { handle, sleeps } = setup([http(429, 2500), ok()]);
    expect(await handle(item)).toMatchObject({ type: 'delivered', attempts: 2 });
    expect(sleeps).toEqual([2500]);
  });

  it('sends permanent failures to the DLT without retrying', async () => {
    const { handle, attempts } = setup([http(410)]);
    expect(await handle(item)).toMatchObject({ type: 'deadLetter', attempts: 1, failure: { kind: 'permanent' } });
    expect(attempts).toHaveLength(1);
  });

  it("uses the subscription's own maxAttempts", async () => {
    const { handle, attempts } = setup(
      [http(500), http(500), http(500), http(500), http(500)],
      [aSnapshot({ maxAttempts: 5 })],
    );
    expect(await handle(item)).toMatchObject({ type: 'deadLetter', attempts: 5 });
    expect(attempts).toHaveLength(5);
  });

  it('stops retrying once the total time bound would be passed', async () => {
    const { handle } = setup([http(503, 40_000), http(503, 40_000), http(503)], undefined, {
      policy: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 60_000, maxTotalMs: 60_000 },
    });
    expect(await handle(item)).toMatchObject({ type: 'deadLetter', attempts: 2 });
  });

  it.each([
    ['unknown', [], 'GATE.SUBSCRIPTION_GONE'],
    ['of another tenant', [aSnapshot({ tenantId: 'tenant-b' })], 'GATE.TENANT_MISMATCH'],
    ['at a blocked endpoint', [aSnapshot({ endpointUrl: 'http://169.254.169.254/latest' })], 'GATE.ENDPOINT_BLOCKED'],
  ])('refuses (skips, never sends, audits) a subscription that is %s', async (_n, subs, code) => {
    const { handle, attempts, audit } = setup([], subs as SubscriptionSnapshot[], {
      endpointRejection: (url) => (url.includes('169.254') ? 'URL.BLOCKED_ADDRESS: link-local' : undefined),
    });
    expect(await handle(item)).toMatchObject({ type: 'skipped', code });
    expect(attempts).toHaveLength(0);
    expect(audit.entries).toEqual([
      expect.objectContaining({ stage: 'EVENT_ERROR', outcome: 'skipped', errorCode: code }),
    ]);
  });

  it('holds (never sends) a delivery of a paused subscription', async () => {
    const { handle, attempts } = setup([], [aSnapshot({ status: 'PAUSED' })]);
    expect(await handle(item)).toMatchObject({ type: 'held', reason: expect.stringMatching(/paused/) });
    expect(attempts).toHaveLength(0);
  });

  it('asks the gate again before every retry: paused during the retries means held, not sent again', async () => {
    const dir = memoryDirectory([aSnapshot()]);
    const { handle, attempts } = setup([http(503), ok()], undefined, {
      directory: dir,
      sleep: async () => dir.apply(aSnapshot().id, aSnapshot({ status: 'PAUSED' })),
    });
    expect(await handle(item)).toMatchObject({ type: 'held' });
    expect(attempts).toHaveLength(1);
  });

  it('parks at once when Retry-After asks for longer than an in-process wait (the schedule honours it)', async () => {
    const { handle, sleeps } = setup([http(503, 60_000)], undefined, {
      policy: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2000, maxTotalMs: 5000 },
    });
    expect(await handle(item)).toMatchObject({ type: 'deadLetter', attempts: 1, failure: { retryAfterMs: 60_000 } });
    expect(sleeps).toEqual([]);
  });

  it('dead-letters at once, retriably, while the endpoint breaker is open', async () => {
    const { handle, attempts } = setup([], undefined, {
      breakerFor: () => ({ allow: () => false, record: () => {} }),
    });
    expect(await handle(item)).toMatchObject({
      type: 'deadLetter',
      attempts: 0,
      failure: { kind: 'retriable', code: 'DELIVERY.CIRCUIT_OPEN' },
    });
    expect(attempts).toHaveLength(0);
  });

  it('counts only retriable failures against the breaker', async () => {
    const recorded: boolean[] = [];
    const { handle } = setup([http(404), http(500), http(500), http(500)], undefined, {
      breakerFor: () => ({ allow: () => true, record: (x) => recorded.push(x) }),
    });
    await handle(item);
    await handle(item);
    expect(recorded).toEqual([true, false, false, false]);
  });

  it("counts a batch's request once against the breaker: only the leader's share is recorded", async () => {
    const recorded: boolean[] = [];
    const inBatch = (r: DeliveryResult, leader: boolean): DeliveryResult => ({ ...r, batch: { size: 3, leader } });
    const { handle } = setup([inBatch(http(500), true), inBatch(http(500), false), inBatch(ok(), false)], undefined, {
      breakerFor: () => ({ allow: () => true, record: (x) => recorded.push(x) }),
    });
    expect((await handle(item)).type).toBe('delivered'); // its own retries still happen (three attempts)
    expect(recorded).toEqual([false]);
  });

  it('on shutdown stops waiting between retries and dead-letters with the last failure', async () => {
    const stop = new AbortController();
    const { handle, sleeps } = setup([http(503), ok()], undefined, {
      signal: stop.signal,
      sleep: async () => {
        stop.abort();
      },
    });
    expect(await handle(item)).toMatchObject({
      type: 'deadLetter',
      attempts: 1,
      failure: { code: 'DELIVERY.HTTP_503' },
    });
    expect(sleeps).toEqual([]);
  });

  it('never throws when the delivery function does', async () => {
    const { handle } = setup([], undefined, {
      deliver: async () => {
        throw new Error('bug');
      },
      policy: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxTotalMs: 1 },
    });
    expect(await handle(item)).toMatchObject({ type: 'deadLetter', failure: { code: 'DELIVERY.INTERNAL' } });
  });
});
