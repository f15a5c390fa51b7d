import { fromKafkaBinary, type HubCloudEvent, toKafkaBinary, toStructuredJson } from './envelope';

const anEvent = (o: Partial<HubCloudEvent> = {}): HubCloudEvent => ({
  specversion: '1.0',
  id: 'evt-1',
  source: '//identity',
  type: 'user.created',
  time: '2026-01-01T00:00:00.000Z',
  datacontenttype: 'application/json',
  extensions: { tenantid: 'tenant-a', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  data: Buffer.from('{"userId":"u1"}'),
  ...o,
});

describe('Kafka binary mode', () => {
  it('round-trips attributes, extensions and data bytes', () => {
    const { headers, value } = toKafkaBinary(anEvent(), { 'hub-subscription-id': 's1' });
    expect(headers['hub-subscription-id']).toBe('s1');
    expect(headers['content-type']).toBe('application/json');
    const back = fromKafkaBinary(
      Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
      value,
    );
    expect(back).toEqual({ ok: true, event: anEvent() });
  });

  it('reports the missing attribute', () => {
    const { headers, value } = toKafkaBinary(anEvent());
    delete headers.ce_id;
    expect(fromKafkaBinary(headers, value)).toEqual({ ok: false, reason: expect.stringContaining('ce_id') });
  });

  it('rejects another specversion', () => {
    const { headers, value } = toKafkaBinary(anEvent());
    headers.ce_specversion = '0.3';
    expect(fromKafkaBinary(headers, value)).toEqual({ ok: false, reason: expect.stringContaining('0.3') });
  });
});

describe('structured JSON', () => {
  it('inlines JSON data and base64-encodes other data', () => {
    expect(JSON.parse(toStructuredJson(anEvent()))).toMatchObject({
      id: 'evt-1',
      tenantid: 'tenant-a',
      data: { userId: 'u1' },
    });
    const bin = JSON.parse(
      toStructuredJson(anEvent({ datacontenttype: 'application/octet-stream', data: Buffer.from([1, 2]) })),
    );
    expect(bin.data_base64).toBe('AQI=');
  });
});
