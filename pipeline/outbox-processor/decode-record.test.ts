import { type HubCloudEvent, toKafkaBinary } from '../shared/cloudevents/envelope';
import { HUB_HEADERS } from '../shared/topics';
import { decodeOutboxRecord } from './decode-record';

const event: HubCloudEvent = {
  specversion: '1.0',
  id: 'evt-1',
  source: '//identity',
  type: 'user.created',
  datacontenttype: 'application/json',
  extensions: { tenantid: 'tenant-from-event' },
  data: Buffer.from('{"userId":"u1"}'),
};

function aRecord(extra: Record<string, string> = {}, key: string | null = 'tenant-from-key') {
  const { headers, value } = toKafkaBinary(event, extra);
  return { key: key === null ? null : Buffer.from(key), value, headers };
}

describe('decode stage', () => {
  it('reads the event, the subscription id and the tenant header of an outbox record', () => {
    const decoded = decodeOutboxRecord(
      aRecord({ [HUB_HEADERS.subscriptionId]: 'sub-1', [HUB_HEADERS.tenantId]: 'tenant-a' }),
    );
    expect(decoded).toEqual({
      ok: true,
      item: { subscriptionId: 'sub-1', tenantId: 'tenant-a', event: expect.objectContaining({ id: 'evt-1' }) },
    });
    expect(decoded.ok && decoded.item.event.data.toString()).toBe('{"userId":"u1"}');
  });

  it("takes the tenant from the event's extension, then from the key, when the header is missing", () => {
    const fromEvent = decodeOutboxRecord(aRecord({ [HUB_HEADERS.subscriptionId]: 'sub-1' }));
    expect(fromEvent.ok && fromEvent.item.tenantId).toBe('tenant-from-event');
    const noExtension = { ...event, extensions: {} };
    const { headers, value } = toKafkaBinary(noExtension, { [HUB_HEADERS.subscriptionId]: 'sub-1' });
    const fromKey = decodeOutboxRecord({ key: Buffer.from('tenant-from-key'), value, headers });
    expect(fromKey.ok && fromKey.item.tenantId).toBe('tenant-from-key');
  });

  it('rejects a record without the hub-subscription-id header, with the reason', () => {
    expect(decodeOutboxRecord(aRecord())).toEqual({
      ok: false,
      reason: 'outbox record has no hub-subscription-id header',
    });
  });

  it('rejects a record that is no binary-mode CloudEvent, with the missing attribute', () => {
    const decoded = decodeOutboxRecord({
      key: null,
      value: Buffer.from('not an event'),
      headers: { [HUB_HEADERS.subscriptionId]: 'sub-1', ce_specversion: '1.0', ce_source: '//x', ce_type: 't' },
    });
    expect(decoded).toEqual({ ok: false, reason: 'missing CloudEvent attribute id (header ce_id)' });
  });
});
