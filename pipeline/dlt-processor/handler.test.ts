import { aSnapshot } from '../../test/fixtures/subscriptions';
import { type HubCloudEvent, toKafkaBinary } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import type { LedgerDeliveryRow, LedgerEventFull } from '../shared/ledger/ledger-query';
import type { StoredFailure } from '../shared/parked/failure-store';
import { memoryDirectory } from '../shared/subscriptions/directory';
import { HUB_HEADERS } from '../shared/topics';
import {
  anotherRound,
  bulkReplayFilter,
  decideAfterAttempt,
  heldAction,
  internalFailure,
  isMalformed,
  jobEnd,
  parkRecord,
  planAttempt,
  recoverPlan,
  recoverSelection,
  redeliveryAudit,
  stepAfterAttempt,
  tally,
  unstorable,
} from './handler';

const now = new Date('2026-01-01T00:00:00Z');
const sub = aSnapshot({ id: 'sub-1', tenantId: 't1' });
const anEvent = (extensions: Record<string, string> = {}): HubCloudEvent => ({
  specversion: '1.0',
  id: 'e1',
  source: '//s',
  type: 'user.created',
  extensions: { tenantid: 't1', ...extensions },
  data: Buffer.from('{}'),
});
/** A DLT record as the outbox-processor writes it: the last attempt 10 s before `now`. */
const dltRecord = (extra: Record<string, string> = {}) => {
  const { headers, value } = toKafkaBinary(anEvent(), {
    [HUB_HEADERS.subscriptionId]: 'sub-1',
    [HUB_HEADERS.tenantId]: 't1',
    [HUB_HEADERS.domain]: 'user-lifecycle',
    [HUB_HEADERS.dltAttempts]: '3',
    [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
    [HUB_HEADERS.dltLastAttemptAt]: new Date(now.getTime() - 10_000).toISOString(),
    ...extra,
  });
  return { offset: '7', key: Buffer.from('t1'), value, headers };
};
const failed = (kind: 'retriable' | 'permanent', code = 'X', retryAfterMs?: number): DeliveryResult => ({
  outcome: 'failed',
  durationMs: 1,
  status: 503,
  failure: { kind, code, message: 'm', retryAfterMs },
});
const delivered: DeliveryResult = { outcome: 'delivered', durationMs: 3, status: 200 };
const schedule = [5_000, 30_000, 120_000];
const row = (o: Partial<StoredFailure> = {}) => ({
  eventId: 'e1',
  tenantId: 't1',
  subscriptionId: 'sub-1',
  attempts: 0,
  status: 'RETRYING' as const,
  nextAttemptAt: null,
  ...o,
});
const admitted = { type: 'admit' as const, sub };
const refused = { type: 'refuse' as const, code: 'GATE.SUBSCRIPTION_GONE' as const, reason: 'gone' };

describe('parkRecord', () => {
  it('makes a retriable record due at its schedule’s first step after its last failure', () => {
    const r = parkRecord('hub.dlt.user-lifecycle.v1', 0, dltRecord(), now, () => 30_000);
    expect(r).toMatchObject({ status: 'PENDING', eventId: 'e1' });
    expect(r.nextAttemptAt).toEqual(new Date(now.getTime() + 20_000));
    // A step already over is due now, not in the past; without a schedule the row is due at once (the store's now).
    expect(parkRecord('hub.dlt.user-lifecycle.v1', 0, dltRecord(), now, () => 1_000).nextAttemptAt).toEqual(now);
    expect(parkRecord('hub.dlt.user-lifecycle.v1', 0, dltRecord(), now).nextAttemptAt).toBeUndefined();
  });
  it('asks no schedule for a record that is not retried (permanent failure, paused, malformed)', () => {
    const firstDelay = jest.fn(() => 30_000);
    const gone = parkRecord(
      'hub.dlt.user-lifecycle.v1',
      0,
      dltRecord({ [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_410' }),
      now,
      firstDelay,
    );
    expect(gone.status).toBe('FAILED');
    expect(gone.nextAttemptAt).toBeUndefined();
    const held = parkRecord('t', 0, dltRecord({ [HUB_HEADERS.dltDisposition]: 'HELD' }), now, firstDelay);
    expect(held.status).toBe('HELD');
    const garbage = parkRecord(
      't',
      0,
      { offset: '1', key: null, value: Buffer.from('x'), headers: {} },
      now,
      firstDelay,
    );
    expect(garbage.status).toBe('FAILED');
    expect(firstDelay).not.toHaveBeenCalled();
  });
  it('tells malformed records from good ones', () => {
    expect(isMalformed(parkRecord('t', 0, { offset: '1', key: null, value: null, headers: {} }, now))).toBe(true);
    expect(isMalformed(parkRecord('t', 0, dltRecord(), now))).toBe(false);
    expect(
      isMalformed(parkRecord('t', 0, dltRecord({ [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_410' }), now)),
    ).toBe(false);
  });
});

describe('unstorable', () => {
  it('keeps a record Postgres refused as a FAILED placeholder under its source position, headers base64 JSON', () => {
    const r = parkRecord('hub.dlt.policy.v1', 2, dltRecord({ 'x-odd': 'a\u0001b' }), now);
    const p = unstorable(r, new Error('value too long\u0000 for index'));
    expect(p).toMatchObject({
      eventId: 'hub.dlt.policy.v1:2:7',
      subscriptionId: 'unknown:hub.dlt.policy.v1:2:7',
      status: 'FAILED',
      failureHeaders: {},
    });
    expect(p.reason).toBe(
      'record could not be stored as read (value too long? for index); its headers are kept base64-encoded',
    );
    const kept = JSON.parse(Buffer.from(p.ceHeaders['hub-unstorable-headers-base64']!, 'base64').toString('utf8'));
    expect(kept).toEqual(r.ceHeaders);
  });
});

describe('planAttempt', () => {
  it('sends an admitted, decodable event to the gate’s subscription', () => {
    const event = anEvent();
    expect(planAttempt(admitted, event, undefined)).toEqual({ type: 'send', event, sub });
  });
  it('sends nothing when the gate refuses: a permanent failure with the gate’s code', () => {
    expect(planAttempt(refused, anEvent(), undefined)).toEqual({
      type: 'unsent',
      result: {
        outcome: 'failed',
        durationMs: 0,
        failure: { kind: 'permanent', code: 'GATE.SUBSCRIPTION_GONE', message: 'gone' },
      },
    });
  });
  it('sends nothing when the stored record is not a CloudEvent', () => {
    const plan = planAttempt(admitted, undefined, 'no ce_id');
    expect(plan).toMatchObject({
      type: 'unsent',
      result: { failure: { kind: 'permanent', code: 'DLT.UNDECODABLE', message: 'no ce_id' } },
    });
  });
  it('counts a send that threw as a retriable internal failure', () => {
    expect(internalFailure(new Error('boom'))).toEqual({
      outcome: 'failed',
      durationMs: 0,
      failure: { kind: 'retriable', code: 'DELIVERY.INTERNAL', message: 'boom' },
    });
  });
});

describe('decideAfterAttempt', () => {
  const opts = { schedule: [5_000, 30_000, 120_000], retryAfterCapMs: 60_000, now, replay: false };
  const failed = (kind: 'retriable' | 'permanent', retryAfterMs?: number) => ({
    outcome: 'failed' as const,
    durationMs: 1,
    failure: { kind, code: 'X', message: 'm', retryAfterMs },
  });
  it.each([
    [{ outcome: 'delivered' as const, durationMs: 1 }, 1, false, 'DELIVERED'],
    [{ outcome: 'delivered' as const, durationMs: 1 }, 1, true, 'REPLAYED'],
    [failed('permanent'), 1, false, 'FAILED'],
    [failed('retriable'), 1, false, 'RETRYING'],
    [failed('retriable'), 3, false, 'FAILED'],
    [failed('retriable'), 1, true, 'FAILED'],
  ])('%o after attempt %i (replay %s) -> %s', (result, n, replay, status) => {
    expect(decideAfterAttempt(result, n, { ...opts, replay }).status).toBe(status);
  });
  it('waits the schedule step after the attempts so far, or as the subscriber asks (capped)', () => {
    const delayAfter = (n: number, retryAfterMs?: number) =>
      decideAfterAttempt(failed('retriable', retryAfterMs), n, opts).nextAttemptAt!.getTime() - now.getTime();
    expect(delayAfter(1)).toBe(30_000);
    expect(delayAfter(2)).toBe(120_000);
    expect(delayAfter(1, 7000)).toBe(7000);
    expect(delayAfter(1, 3_600_000)).toBe(60_000);
  });
  it('ends FAILED with the reason once the schedule is exhausted, and says so', () => {
    const d = decideAfterAttempt(failed('retriable'), 3, opts);
    expect(d).toMatchObject({ status: 'FAILED', exhausted: true, nextAttemptAt: null });
    expect(d.reason).toMatch(/retry schedule exhausted after 3 scheduled attempts \(last X\)/);
  });
});

describe('stepAfterAttempt', () => {
  const opts = { replay: false, schedule, retryAfterCapMs: 60_000, now };
  it('a scheduled delivery: DELIVERED, the attempt counted', () => {
    expect(stepAfterAttempt(row({ attempts: 1 }), admitted, delivered, opts)).toEqual({
      status: 'DELIVERED',
      nextAttemptAt: null,
      reason: null,
      attempt: 2,
      exhausted: false,
    });
  });
  it('a retriable failure: RETRYING at the next step, the failure’s message as the reason', () => {
    expect(stepAfterAttempt(row(), admitted, failed('retriable'), opts)).toEqual({
      status: 'RETRYING',
      nextAttemptAt: new Date(now.getTime() + 30_000),
      reason: 'm',
      attempt: 1,
      exhausted: false,
    });
  });
  it('the last step failing: FAILED and exhausted (the subscription is flagged)', () => {
    const s = stepAfterAttempt(row({ attempts: 2 }), admitted, failed('retriable'), opts);
    expect(s).toMatchObject({ status: 'FAILED', nextAttemptAt: null, attempt: 3, exhausted: true });
    expect(s.reason).toMatch(/^retry schedule exhausted after 3 scheduled attempts/);
  });
  it('refused by the gate: SKIPPED with the gate’s reason, scheduled or replayed', () => {
    for (const replay of [false, true])
      expect(
        stepAfterAttempt(row(), refused, failed('permanent', 'GATE.SUBSCRIPTION_GONE'), { ...opts, replay }),
      ).toMatchObject({
        status: 'SKIPPED',
        nextAttemptAt: null,
        reason: 'refused by the delivery gate: gone',
        exhausted: false,
      });
  });
  it('an undecodable record: FAILED at once', () => {
    const plan = planAttempt(admitted, undefined, 'no ce_id');
    const s = stepAfterAttempt(row(), admitted, plan.type === 'unsent' ? plan.result : delivered, opts);
    expect(s).toMatchObject({
      status: 'FAILED',
      reason: 'permanent failure DLT.UNDECODABLE: no ce_id',
      exhausted: false,
    });
  });
  it('a replay: REPLAYED when delivered; a failed one keeps a row still on its schedule where it was', () => {
    const replay = { ...opts, replay: true };
    const due = new Date(now.getTime() + 99_000);
    expect(stepAfterAttempt(row({ status: 'FAILED' }), admitted, delivered, replay)).toMatchObject({
      status: 'REPLAYED',
      attempt: undefined,
    });
    expect(
      stepAfterAttempt(
        row({ status: 'RETRYING', nextAttemptAt: due, attempts: 2 }),
        admitted,
        failed('retriable'),
        replay,
      ),
    ).toEqual({
      status: 'RETRYING',
      nextAttemptAt: due,
      reason: 'replay failed: X',
      attempt: undefined,
      exhausted: false,
    });
    expect(stepAfterAttempt(row({ status: 'HELD' }), admitted, failed('permanent'), replay).status).toBe('HELD');
    expect(stepAfterAttempt(row({ status: 'FAILED' }), admitted, failed('retriable'), replay)).toMatchObject({
      status: 'FAILED',
      reason: 'replay failed: X',
      exhausted: false,
    });
  });
});

describe('redeliveryAudit', () => {
  const traced = anEvent({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const send = { type: 'send' as const, event: traced, sub };
  it('a request that went out and failed: HTTP_SEND and EVENT_ERROR, with the trace id and attempt', () => {
    const entries = redeliveryAudit(
      row(),
      { status: 'RETRYING', attempt: 2 },
      {
        source: 'SCHEDULED',
        plan: send,
        result: failed('retriable', 'DELIVERY.HTTP_503'),
      },
    );
    expect(entries).toEqual([
      expect.objectContaining({ stage: 'HTTP_SEND', status: 503, attempt: 2, outcome: 'failed', detail: 'SCHEDULED' }),
      expect.objectContaining({
        stage: 'EVENT_ERROR',
        errorCode: 'DELIVERY.HTTP_503',
        detail: 'SCHEDULED -> RETRYING',
      }),
    ]);
    expect(entries.every((e) => e.traceId === '0af7651916cd43dd8448eb211c80319c' && e.eventId === 'e1')).toBe(true);
  });
  it('a delivered replay: HTTP_SEND only', () => {
    const entries = redeliveryAudit(
      row(),
      { status: 'REPLAYED', attempt: undefined },
      { source: 'REPLAY', plan: send, result: delivered },
    );
    expect(entries.map((e) => e.stage)).toEqual(['HTTP_SEND']);
  });
  it('nothing sent (refused by the gate): EVENT_ERROR only', () => {
    const plan = planAttempt(refused, traced, undefined);
    const result = plan.type === 'unsent' ? plan.result : delivered;
    const entries = redeliveryAudit(row(), { status: 'SKIPPED', attempt: 1 }, { source: 'SCHEDULED', plan, result });
    expect(entries).toEqual([
      expect.objectContaining({
        stage: 'EVENT_ERROR',
        errorCode: 'GATE.SUBSCRIPTION_GONE',
        detail: 'SCHEDULED -> SKIPPED',
      }),
    ]);
    expect(entries[0]!.traceId).toBeUndefined();
  });
});

describe('heldAction and anotherRound', () => {
  it('releases the held deliveries of an active subscription, skips a deleted one’s, waits while paused', () => {
    expect(heldAction(aSnapshot({ status: 'ACTIVE' }))).toEqual({ type: 'release' });
    expect(heldAction(aSnapshot({ status: 'PAUSED' }))).toEqual({ type: 'wait' });
    expect(heldAction(undefined)).toEqual({
      type: 'skip',
      reason: 'subscription deleted while its deliveries were held',
    });
  });
  it.each([
    [{ claimed: 0, delivered: 0 }, false],
    [{ claimed: 50, delivered: 0 }, true],
    [{ claimed: 3, delivered: 0 }, false],
    [{ claimed: 3, delivered: 1 }, true],
  ])('after a round of %o another runs at once: %s', (round, again) => {
    expect(anotherRound(round, 50)).toBe(again);
  });
});

describe('bulk replay', () => {
  it('covers FAILED rows unless a status is named, and refuses resolved statuses', () => {
    expect(bulkReplayFilter({ tenantId: 't1' })).toEqual({ tenantId: 't1', status: 'FAILED' });
    expect(bulkReplayFilter({ status: 'PENDING' })).toEqual({ status: 'PENDING' });
    expect(bulkReplayFilter({ status: 'DELIVERED' })).toBeUndefined();
    expect(bulkReplayFilter({ status: 'REPLAYED' })).toBeUndefined();
  });
  it('counts rows it could not claim as failed, then each replay by its outcome', () => {
    let t = { processed: 0, succeeded: 0, failed: 0 };
    t = tally(t, { unclaimed: 3 });
    t = tally(t, { delivered: true });
    t = tally(t, { delivered: false });
    expect(t).toEqual({ processed: 5, succeeded: 1, failed: 4 });
  });
});

describe('recover', () => {
  const request = { tenantId: 't1', subscriptionId: 'sub-1', since: new Date('2025-12-01T00:00:00Z'), statuses: [] };
  it('starts no earlier than the retention window', () => {
    expect(recoverSelection(request, 14, now)).toEqual({
      ...request,
      since: new Date('2025-12-18T00:00:00Z'),
      until: now,
    });
    const recent = { ...request, since: new Date('2025-12-30T00:00:00Z') };
    expect(recoverSelection(recent, 14, now).since).toEqual(recent.since);
  });

  const { headers, value } = toKafkaBinary(anEvent(), {});
  const stored = (o: Partial<LedgerEventFull> = {}): LedgerEventFull => ({
    eventId: 'e1',
    receivedAt: now,
    tenantId: 't1',
    type: 'user.created',
    source: '//s',
    subject: null,
    match: { sourceService: 's', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' },
    domain: 'user-lifecycle',
    traceId: null,
    fanOut: 1,
    ingest: null,
    payloadHeaders: headers as Record<string, string>,
    payloadBody: value ?? Buffer.alloc(0),
    ...o,
  });
  const delivery = { subscriptionId: 'sub-1' } as LedgerDeliveryRow;
  const deps = memoryDirectory([sub, aSnapshot({ id: 'paused', tenantId: 't1', status: 'PAUSED' })]);

  it('replays a delivery whose event is in the ledger to its admitted subscription', () => {
    expect(recoverPlan({ directory: deps }, { delivery, event: stored() })).toMatchObject({
      send: true,
      event: { id: 'e1' },
      sub: { id: 'sub-1' },
    });
  });
  it('says why a delivery is not sent: event gone, payload not a CloudEvent, the gate refuses or holds', () => {
    const why = (d: LedgerDeliveryRow, event: LedgerEventFull | undefined) => {
      const p = recoverPlan({ directory: deps }, { delivery: d, event });
      return p.send ? 'sent' : p.why;
    };
    expect(why(delivery, undefined)).toBe('event not in the ledger');
    expect(why(delivery, stored({ payloadHeaders: {} }))).toBe('LEDGER.UNDECODABLE');
    expect(why({ subscriptionId: 'deleted' } as LedgerDeliveryRow, stored())).toMatch(/^GATE\.SUBSCRIPTION_GONE: /);
    expect(why({ subscriptionId: 'paused' } as LedgerDeliveryRow, stored())).toMatch(/^GATE\.PAUSED: /);
  });
});

describe('jobEnd', () => {
  it('ends a job stopped by a shutdown FAILED, saying how to do the rest', () => {
    expect(jobEnd('replay', true)).toEqual({
      status: 'FAILED',
      error: 'interrupted by shutdown: start a new replay with the same filter for the rest',
    });
    expect(jobEnd('recover', true, new Map([['x', 1]]))).toMatchObject({
      status: 'FAILED',
      error: /new recover since/,
    });
  });
  it('completes, a recover with what it did not send and why', () => {
    expect(jobEnd('replay', false)).toEqual({ status: 'COMPLETED', error: null });
    expect(jobEnd('recover', false, new Map())).toEqual({ status: 'COMPLETED', error: null });
    expect(
      jobEnd(
        'recover',
        false,
        new Map([
          ['event not in the ledger', 2],
          ['GATE.PAUSED: paused', 1],
        ]),
      ),
    ).toEqual({
      status: 'COMPLETED',
      error: '2 not sent (event not in the ledger); 1 not sent (GATE.PAUSED: paused)',
    });
  });
});
