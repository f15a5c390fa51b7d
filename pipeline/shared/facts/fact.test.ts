/**
 * Which ledger records make which delivery facts (deliveryFactsOf), without Kafka: each delivery status, the other
 * record kinds, and FACTS_DELIVERED (all, none, sample:N). The facts' shape against their JSON Schemas is
 * schemas/facts/facts.test.ts; producing them is test/dlt-processor/delivery-facts.int.test.ts.
 */
import {
  LEDGER_DELIVERY_STATUSES,
  type LedgerAttempt,
  type LedgerDelivery,
  type LedgerDeliveryStatus,
  type LedgerEvent,
  type LedgerRecord,
} from '../ledger/ledger-record';
import { topicNames } from '../topics';
import { type DeliveredFactsMode, deliveryFactsOf, FACT_TYPES, keepDelivered, parseDeliveredFactsMode } from './fact';

const topics = topicNames('hub').facts;
const ALL: DeliveredFactsMode = { kind: 'all' };
const NONE: DeliveredFactsMode = { kind: 'none' };

const aDelivery = (o: Partial<LedgerDelivery> = {}): LedgerDelivery => ({
  kind: 'delivery',
  at: '2026-12-01T10:00:01.000Z',
  eventId: 'evt-1',
  tenantId: 'acme',
  subscriptionId: 'sub-1',
  receivedAt: '2026-12-01T10:00:00.000Z',
  status: 'DELIVERED',
  reason: null,
  attempts: 1,
  lastStatusCode: 200,
  nextAttemptAt: null,
  ...o,
});

const anEvent: LedgerEvent = {
  kind: 'event',
  at: '2026-12-01T10:00:00.000Z',
  eventId: 'evt-1',
  tenantId: 'acme',
  type: 'user.created',
  source: '//identity',
  match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'USER', operationType: 'CREATE' },
  domain: 'user-lifecycle',
  receivedAt: '2026-12-01T10:00:00.000Z',
  subscriptionIds: ['sub-1'],
  payload: { headers: {}, body: '' },
};

const anAttempt: LedgerAttempt = {
  kind: 'attempt',
  at: '2026-12-01T10:00:01.000Z',
  attemptId: '00000000-0000-4000-8000-000000000001',
  eventId: 'evt-1',
  tenantId: 'acme',
  subscriptionId: 'sub-1',
  receivedAt: '2026-12-01T10:00:00.000Z',
  source: 'OUTBOX',
  attempt: 1,
  durationMs: 5,
  statusCode: 200,
  errorCode: null,
  responseSnippet: null,
};

/** Deliveries of `status` for `n` distinct events. */
const deliveries = (n: number, status: LedgerDeliveryStatus = 'DELIVERED'): LedgerDelivery[] =>
  Array.from({ length: n }, (_, i) =>
    aDelivery({ eventId: `evt-${i}`, status, reason: status === 'FAILED' ? 'DELIVERY.HTTP_4XX: 410' : null }),
  );

describe('deliveryFactsOf: which delivery states are facts', () => {
  const expected: Record<LedgerDeliveryStatus, { type: string; topic: string } | undefined> = {
    DELIVERED: { type: FACT_TYPES.delivered, topic: topics.webhooks },
    FAILED: { type: FACT_TYPES.failed, topic: topics.failures },
    PENDING: undefined,
    RETRYING: undefined,
    HELD: undefined,
    SKIPPED: undefined,
  };

  it.each(LEDGER_DELIVERY_STATUSES.map((s) => [s]))('%s', (status) => {
    const facts = deliveryFactsOf([aDelivery({ status, reason: status === 'FAILED' ? 'gone' : null })], topics, ALL);
    const want = expected[status];
    if (!want) {
      expect(facts).toEqual([]);
      return;
    }
    expect(facts).toHaveLength(1);
    expect(facts[0]).toMatchObject({ topic: want.topic, key: 'acme', event: { type: want.type, subject: 'sub-1' } });
  });

  it('makes none of events and attempts, and keeps the batch order', () => {
    expect(deliveryFactsOf([anEvent, anAttempt], topics, ALL)).toEqual([]);
    const batch: LedgerRecord[] = [
      anEvent,
      aDelivery({ eventId: 'e-a', status: 'FAILED', reason: 'DELIVERY.HTTP_4XX: 410' }),
      anAttempt,
      aDelivery({ eventId: 'e-b', status: 'RETRYING' }),
      aDelivery({ eventId: 'e-c' }),
      aDelivery({ eventId: 'e-d', status: 'SKIPPED' }),
      aDelivery({ eventId: 'e-e', status: 'FAILED', reason: 'exhausted' }),
    ];
    const facts = deliveryFactsOf(batch, topics, ALL);
    expect(facts.map((f) => [f.event.data.correlationId, f.event.data.fact])).toEqual([
      ['e-a', 'IntegrationFailed'],
      ['e-c', 'WebhookDelivered'],
      ['e-e', 'IntegrationFailed'],
    ]);
  });

  it('gives the same facts, byte for byte, for the same batch read again', () => {
    const batch = [...deliveries(20), ...deliveries(5, 'FAILED')];
    const first = deliveryFactsOf(batch, topics, { kind: 'sample', oneIn: 3 });
    const again = deliveryFactsOf(batch, topics, { kind: 'sample', oneIn: 3 });
    expect(again.map((f) => f.value.toString())).toEqual(first.map((f) => f.value.toString()));
  });
});

describe('deliveryFactsOf: FACTS_DELIVERED', () => {
  const delivered = deliveries(400);
  const failed = deliveries(30, 'FAILED');
  const batch = [...delivered, ...failed];
  const count = (mode: DeliveredFactsMode) => {
    const facts = deliveryFactsOf(batch, topics, mode);
    return {
      delivered: facts.filter((f) => f.event.type === FACT_TYPES.delivered).length,
      failed: facts.filter((f) => f.event.type === FACT_TYPES.failed).length,
    };
  };

  it('all: every delivery and every failure', () => {
    expect(count(parseDeliveredFactsMode('all')!)).toEqual({ delivered: 400, failed: 30 });
  });

  it('none: the failures only', () => {
    expect(count(parseDeliveredFactsMode('none')!)).toEqual({ delivered: 0, failed: 30 });
    expect(deliveryFactsOf(delivered, topics, NONE)).toEqual([]);
  });

  it('sample:1 keeps every delivery', () => {
    expect(count(parseDeliveredFactsMode('sample:1')!)).toEqual({ delivered: 400, failed: 30 });
  });

  it('sample:N keeps about one delivery in N, decided by the fact id, and every failure', () => {
    const mode = parseDeliveredFactsMode('sample:4')!;
    const kept = deliveryFactsOf(batch, topics, mode).filter((f) => f.event.type === FACT_TYPES.delivered);
    expect(kept.length).toBeGreaterThan(60);
    expect(kept.length).toBeLessThan(140);
    // exactly the deliveries whose fact id the sample keeps (so a re-read batch keeps the same ones)
    const all = deliveryFactsOf(delivered, topics, ALL);
    expect(kept.map((f) => f.event.id)).toEqual(all.map((f) => f.event.id).filter((id) => keepDelivered(mode, id)));
    expect(count(mode).failed).toBe(30);
    expect(count(parseDeliveredFactsMode('sample:1000')!)).toMatchObject({ failed: 30 });
  });
});
