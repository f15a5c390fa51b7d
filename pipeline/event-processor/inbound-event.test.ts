import { anInboundSource } from '../../test/fixtures/inbound-sources';
import type { InboundSourceRecord } from '../shared/inbound/inbound-source';
import { buildInboundEvent, inboundEventId } from './inbound-event';

const source = (o: Partial<InboundSourceRecord> = {}): InboundSourceRecord =>
  anInboundSource({
    id: '01900000-0000-7000-8000-000000000001',
    name: 'stripe',
    verification: { scheme: 'STRIPE', toleranceSeconds: 300 },
    dedupe: { jsonPointer: '/id' },
    mapping: {
      eventType: { jsonPointer: '/type' },
      resourceType: { value: 'INVOICE' },
      operationType: { jsonPointer: '/data/object/status' },
      sourceService: { value: 'stripe' },
    },
    ...o,
  });
const NOW = new Date('2026-12-01T10:00:00.000Z');

describe('buildInboundEvent', () => {
  it('maps the request to a CloudEvent with a deterministic id and the body untouched', () => {
    const body = Buffer.from('{"id":"evt_1","type":"invoice.paid","data":{"object":{"status":"paid"}}}');
    const r = buildInboundEvent(
      source(),
      { headers: { 'content-type': 'application/json; charset=utf-8' }, body },
      NOW,
    );
    expect(r).toMatchObject({
      ok: true,
      deliveryId: 'evt_1',
      event: {
        id: inboundEventId(source().id, 'evt_1'),
        source: `//stripe/inbound/${source().id}`,
        type: 'invoice.paid',
        time: NOW.toISOString(),
        datacontenttype: 'application/json; charset=utf-8',
        extensions: {
          tenantid: 'tenant-a',
          sourceservice: 'stripe',
          resourcetype: 'INVOICE',
          operationtype: 'paid',
          inboundsource: source().id,
          inbounddelivery: 'evt_1',
          traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
        },
      },
    });
    if (r.ok) expect(r.event.data.equals(body)).toBe(true);
    // Same source and delivery -> same id; another source -> another id.
    expect(inboundEventId(source().id, 'evt_1')).toBe(inboundEventId(source().id, 'evt_1'));
    expect(inboundEventId('other', 'evt_1')).not.toBe(inboundEventId(source().id, 'evt_1'));
  });

  it('reads headers and says which mapped fields the request lacks', () => {
    const gh = source({
      dedupe: { header: 'X-GitHub-Delivery' },
      mapping: {
        eventType: { header: 'X-GitHub-Event' },
        resourceType: { value: 'REPO' },
        operationType: { jsonPointer: '/action' },
        sourceService: { value: 'github' },
      },
    });
    const ok = buildInboundEvent(
      gh,
      { headers: { 'x-github-event': 'issues', 'x-github-delivery': 'd-1' }, body: Buffer.from('{"action":"opened"}') },
      NOW,
    );
    expect(ok).toMatchObject({ ok: true, event: { type: 'issues', extensions: { operationtype: 'opened' } } });

    const missing = buildInboundEvent(gh, { headers: {}, body: Buffer.from('not json') }, NOW);
    expect(missing).toMatchObject({ ok: false });
    if (!missing.ok) {
      expect(missing.errors.map((e) => e.path)).toEqual(['dedupe', 'mapping.eventType', 'mapping.operationType']);
      expect(missing.detail).toMatch(/missing header X-GitHub-Delivery/);
      expect(missing.detail).toMatch(/not JSON/);
    }
  });

  it('has no delivery id (and a fresh id) when the source does not dedupe', () => {
    const r = buildInboundEvent(
      source({ dedupe: null, mapping: { ...source().mapping, operationType: { value: 'X' } } }),
      { headers: {}, body: Buffer.from('{"type":"t"}') },
      NOW,
    );
    expect(r).toMatchObject({
      ok: true,
      deliveryId: undefined,
      event: { datacontenttype: 'application/octet-stream' },
    });
  });
});
