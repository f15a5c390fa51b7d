/**
 * The facts as produced (shared/facts/fact.ts) against their JSON Schemas (schemas/facts/): every fact type from
 * its cause, ids derived from the cause, cs-* headers mirroring the envelope, no fact for changes that are none.
 */
import type { ChangeAuditRow } from '../../pipeline/shared/change-audit/change-audit';
import {
  deliveryFactOf,
  FACT_HEADERS,
  FACT_TYPES,
  type FactRecord,
  type InboundAcceptance,
  inboundFactOf,
  keepDelivered,
  parseDeliveredFactsMode,
  registryFactOf,
} from '../../pipeline/shared/facts/fact';
import type { LedgerDelivery } from '../../pipeline/shared/ledger/ledger-record';
import { topicNames } from '../../pipeline/shared/topics';
import { validateFact } from '../../test/support/fact-schemas';

const topics = topicNames('hub').facts;

const aRow = (o: Partial<ChangeAuditRow> = {}): ChangeAuditRow => ({
  id: '42',
  at: new Date('2026-12-01T10:00:00.000Z'),
  tenantId: 'acme',
  actor: { keyId: 'key-1', name: 'ci', requestId: 'req-7' },
  action: 'subscription.created',
  resourceType: 'subscription',
  resourceId: 'sub-1',
  version: 1,
  changedFields: ['endpoint', 'match.eventType'],
  ...o,
});

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
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  ...o,
});

const anAcceptance = (o: Partial<InboundAcceptance> = {}): InboundAcceptance => ({
  eventId: 'inb-0123456789abcdef0123456789abcdef',
  tenantId: 'acme',
  inboundSourceId: 'src-1',
  deliveryId: 'gh-delivery-1',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  receivedAt: '2026-12-01T10:00:00.000Z',
  ...o,
});

function expectValid(f: FactRecord | undefined): FactRecord {
  expect(f).toBeDefined();
  const event = JSON.parse(f!.value.toString('utf8'));
  expect(validateFact(event)).toEqual([]);
  expect(event).toEqual(JSON.parse(JSON.stringify(f!.event)));
  // the headers mirror the envelope
  expect(f!.headers).toMatchObject({
    [FACT_HEADERS.eventType]: event.type,
    [FACT_HEADERS.traceId]: event.data.traceId,
    [FACT_HEADERS.correlationId]: event.data.correlationId,
    [FACT_HEADERS.schemaVersion]: '1',
    'content-type': 'application/cloudevents+json; charset=utf-8',
  });
  // exactly these headers; a fact about no tenant has neither the tenant header nor the `tenantid` extension
  const mirrored = Object.values(FACT_HEADERS).filter(
    (h) => event.data.tenantId !== null || h !== FACT_HEADERS.tenantId,
  );
  expect(Object.keys(f!.headers).sort()).toEqual(['content-type', ...mirrored].sort());
  if (event.data.tenantId !== null) {
    expect(f!.headers[FACT_HEADERS.tenantId]).toBe(event.data.tenantId);
    expect(event.tenantid).toBe(event.data.tenantId);
  } else expect(Object.keys(event)).not.toContain('tenantid');
  expect(f!.key).toBe(event.data.tenantId ?? '_hub');
  expect(event.id).toBe(event.data.eventId);
  expect(event.traceparent.split('-')[1]).toBe(event.data.traceId);
  return f!;
}

describe('facts', () => {
  it.each([
    ['subscription.created', FACT_TYPES.subscribed, 'created'],
    ['subscription.paused', FACT_TYPES.paused, 'paused'],
    ['subscription.resumed', FACT_TYPES.resumed, 'resumed'],
    ['subscription.deleted', FACT_TYPES.unsubscribed, 'deleted'],
  ] as const)('%s -> WebhookSubscribed %s on the webhooks topic, valid', (action, type, verb) => {
    const f = expectValid(registryFactOf(aRow({ action }), topics));
    expect(f.topic).toBe('hub.facts.webhooks.v1');
    expect(f.event.type).toBe(type);
    expect(f.event.data).toMatchObject({
      fact: 'WebhookSubscribed',
      tenantId: 'acme',
      correlationId: 'req-7',
      causationId: 'req-7',
      occurredAt: '2026-12-01T10:00:00.000Z',
      payload: { action: verb, subscriptionId: 'sub-1', actor: { keyId: 'key-1', name: 'ci' } },
    });
  });

  it.each([
    [
      'subscription.secret_rotated',
      aRow({ action: 'subscription.secret_rotated', changedFields: ['signing'] }),
      'signing_secret',
      'rotated',
    ],
    [
      'subscription.updated',
      aRow({ action: 'subscription.updated', changedFields: ['auth.password', 'endpoint'] }),
      'auth_credentials',
      'rotated',
    ],
    [
      'inbound_source.secret_rotated',
      aRow({ action: 'inbound_source.secret_rotated', resourceType: 'inbound_source' }),
      'inbound_secret',
      'rotated',
    ],
    [
      'api_key.created',
      aRow({ action: 'api_key.created', resourceType: 'api_key', version: null }),
      'api_key',
      'created',
    ],
    [
      'api_key.revoked',
      aRow({ action: 'api_key.revoked', resourceType: 'api_key', tenantId: null, version: null }),
      'api_key',
      'revoked',
    ],
  ] as const)('%s -> CredentialRotated (%s %s), valid, no value', (_action, row, credential, change) => {
    const f = expectValid(registryFactOf(row, topics));
    expect(f.topic).toBe('hub.facts.credentials.v1');
    expect(f.event.type).toBe(FACT_TYPES.credentialRotated);
    expect(f.event.data.payload).toMatchObject({ credential, change, resourceId: row.resourceId });
  });

  it('changes that are no fact: a plain update, event types, inbound source CRUD', () => {
    for (const action of ['subscription.updated', 'event_type.created', 'inbound_source.updated'] as const)
      expect(registryFactOf(aRow({ action, changedFields: ['endpoint'] }), topics)).toBeUndefined();
  });

  it('a registry fact id derives from its audit row: the same row gives the same fact, another row another', () => {
    const a = registryFactOf(aRow(), topics)!;
    expect(registryFactOf(aRow(), topics)!.value.equals(a.value)).toBe(true);
    expect(registryFactOf(aRow({ id: '43' }), topics)!.event.id).not.toBe(a.event.id);
    // no request: the row itself is the cause, and the trace is derived from it
    const internal = expectValid(
      registryFactOf(aRow({ actor: { keyId: 'system', name: null, requestId: null } }), topics),
    );
    expect(internal.event.data.causationId).toBe('change-audit:42');
  });

  it('DELIVERED -> WebhookDelivered, FAILED -> IntegrationFailed with the reason and its code; others none', () => {
    const d = expectValid(deliveryFactOf(aDelivery(), topics));
    expect(d.topic).toBe('hub.facts.webhooks.v1');
    expect(d.event.data).toMatchObject({
      fact: 'WebhookDelivered',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      correlationId: 'evt-1',
      causationId: 'evt-1',
      payload: { webhookEventId: 'evt-1', subscriptionId: 'sub-1', attempts: 1, lastStatusCode: 200 },
    });
    const reason = 'DELIVERY.HTTP_4XX: subscriber answered 410';
    const f = expectValid(deliveryFactOf(aDelivery({ status: 'FAILED', reason, lastStatusCode: 410 }), topics));
    expect(f.topic).toBe('hub.facts.failures.v1');
    expect(f.event.data.payload).toMatchObject({ reason, code: 'DELIVERY.HTTP_4XX', lastStatusCode: 410 });
    expect(f.event.id).not.toBe(d.event.id);
    for (const status of ['PENDING', 'RETRYING', 'HELD', 'SKIPPED'] as const)
      expect(deliveryFactOf(aDelivery({ status }), topics)).toBeUndefined();
    // no trace id on the record: derived from the event id, so every fact of that event shares it
    const derived = expectValid(deliveryFactOf(aDelivery({ traceId: undefined }), topics));
    expect(derived.event.data.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(derived.event.id).toBe(d.event.id);
  });

  it('FACTS_DELIVERED: all, none, or a deterministic sample of about one in N', () => {
    expect(parseDeliveredFactsMode('all')).toEqual({ kind: 'all' });
    expect(parseDeliveredFactsMode('none')).toEqual({ kind: 'none' });
    expect(parseDeliveredFactsMode('sample:10')).toEqual({ kind: 'sample', oneIn: 10 });
    for (const bad of ['sample:0', 'sample:x', 'some', '']) expect(parseDeliveredFactsMode(bad)).toBeUndefined();
    const none = parseDeliveredFactsMode('none')!;
    expect(deliveryFactOf(aDelivery(), topics, none)).toBeUndefined();
    // failures are never sampled away
    expect(deliveryFactOf(aDelivery({ status: 'FAILED', reason: 'x' }), topics, none)).toBeDefined();
    const sample = parseDeliveredFactsMode('sample:4')!;
    const ids = Array.from({ length: 2000 }, (_, i) => `id-${i}`);
    const kept = ids.filter((id) => keepDelivered(sample, id));
    expect(kept.length).toBeGreaterThan(400);
    expect(kept.length).toBeLessThan(600);
    expect(ids.filter((id) => keepDelivered(sample, id))).toEqual(kept);
  });

  it('an accepted inbound webhook -> WebhookDelivered with direction inbound, valid; sampled like deliveries', () => {
    const f = expectValid(inboundFactOf(anAcceptance(), topics));
    expect(f.topic).toBe('hub.facts.webhooks.v1');
    expect(f.key).toBe('acme');
    expect(f.event).toMatchObject({
      type: FACT_TYPES.delivered,
      source: '//integration-hub/inbound',
      subject: 'src-1',
      correlationid: 'inb-0123456789abcdef0123456789abcdef',
    });
    expect(f.event.data).toMatchObject({
      fact: 'WebhookDelivered',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      causationId: 'inb-0123456789abcdef0123456789abcdef',
      payload: {
        direction: 'inbound',
        webhookEventId: 'inb-0123456789abcdef0123456789abcdef',
        inboundSourceId: 'src-1',
        deliveryId: 'gh-delivery-1',
        receivedAt: '2026-12-01T10:00:00.000Z',
      },
    });
    // the id derives from (source, event): the vendor's retry of the same delivery gives the same fact
    expect(inboundFactOf(anAcceptance({ receivedAt: '2026-12-01T10:05:00.000Z' }), topics)!.event.id).toBe(f.event.id);
    expect(inboundFactOf(anAcceptance({ eventId: 'other' }), topics)!.event.id).not.toBe(f.event.id);
    // a source without a delivery id, an event without a trace: still valid, the trace derived from the event id
    const bare = expectValid(inboundFactOf(anAcceptance({ deliveryId: null, traceId: null }), topics));
    expect(bare.event.data.traceId).toMatch(/^[0-9a-f]{32}$/);
    // FACTS_DELIVERED applies as to deliveries
    expect(inboundFactOf(anAcceptance(), topics, { kind: 'none' })).toBeUndefined();
    const sample = parseDeliveredFactsMode('sample:3')!;
    const kept = Array.from({ length: 900 }, (_, i) =>
      inboundFactOf(anAcceptance({ eventId: `e-${i}` }), topics, sample),
    );
    expect(kept.filter(Boolean).length).toBeGreaterThan(200);
    expect(kept.filter(Boolean).length).toBeLessThan(400);
  });

  it('the two WebhookDelivered shapes do not mix: outbound has no direction, inbound needs its source', () => {
    const out = JSON.parse(deliveryFactOf(aDelivery(), topics)!.value.toString('utf8'));
    const inb = JSON.parse(inboundFactOf(anAcceptance(), topics)!.value.toString('utf8'));
    const withPayload = (e: { data: object }, payload: object) => ({ ...e, data: { ...e.data, payload } });
    expect(validateFact(withPayload(out, { ...out.data.payload, direction: 'inbound' }))).not.toEqual([]);
    const { inboundSourceId: _, ...noSource } = inb.data.payload;
    expect(validateFact(withPayload(inb, noSource))).not.toEqual([]);
    expect(validateFact(withPayload(inb, { ...inb.data.payload, direction: 'outbound' }))).not.toEqual([]);
  });

  it('rejects what is not a valid fact', () => {
    const f = registryFactOf(aRow(), topics)!;
    const event = JSON.parse(f.value.toString('utf8'));
    expect(validateFact({ ...event, data: { ...event.data, payload: { action: 'renamed' } } })).not.toEqual([]);
    expect(validateFact({ ...event, data: { ...event.data, fact: 'Nope' } })).toEqual([
      'data.fact is not a known fact: Nope',
    ]);
  });
});
