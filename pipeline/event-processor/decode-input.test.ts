import {
  aRawEvent,
  binaryRecord,
  cloudEventAttributes,
  poisonCases,
  rawRecord,
  structuredRecord,
} from '../../test/fixtures/platform-events';
import { toKafkaBinary } from '../shared/cloudevents/envelope';
import { type DecodeResult, decodeInput, decodeRecord, type SchemaDecoder } from './decode-input';
import { deriveTraceparent } from './traceparent';

const opts = { maxEventBytes: 64 * 1024 };

function ok(r: DecodeResult) {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.reason}`);
  return r;
}

/** The binary-mode wire form of a decoded event: what the handler would put on the outbox. */
const wire = (r: DecodeResult) => {
  const { headers, value } = toKafkaBinary(ok(r).event);
  return { headers, value: value.toString('utf8') };
};

describe('decodeInput', () => {
  it('decodes a binary-mode CloudEvent with the match key from its extensions', () => {
    const r = ok(decodeInput(binaryRecord(), opts));
    expect(r.format).toBe('binary');
    expect(r.match).toEqual({
      tenantId: 'tenant-a',
      sourceService: 'identity',
      eventType: 'user.created',
      resourceType: 'USER',
      operationType: 'CREATE',
    });
    expect(r.event.data.toString()).toBe(JSON.stringify(aRawEvent().payload));
  });

  it('normalises a raw platform event into the documented CloudEvent', () => {
    const e = aRawEvent();
    const r = ok(decodeInput(rawRecord(e), opts));
    expect(r.format).toBe('raw');
    expect(r.event).toMatchObject({
      specversion: '1.0',
      id: 'evt-1',
      source: '//identity',
      type: 'user.created',
      time: '2025-01-02T03:04:05.678Z',
      subject: 'USER/u-42',
      datacontenttype: 'application/json',
      extensions: {
        tenantid: 'tenant-a',
        sourceservice: 'identity',
        resourcetype: 'USER',
        operationtype: 'CREATE',
        correlationid: 'corr-1',
        traceparent: deriveTraceparent('evt-1', e.traceId),
      },
    });
    expect(r.event.extensions.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(JSON.parse(r.event.data.toString())).toEqual(e.payload);
  });

  it('accepts `id` instead of `eventId` and a subject without resource id', () => {
    const { eventId: _, resourceId: __, ...rest } = aRawEvent();
    const r = ok(decodeInput({ value: Buffer.from(JSON.stringify({ ...rest, id: 'evt-9' })) }, opts));
    expect(r.event.id).toBe('evt-9');
    expect(r.event.subject).toBe('USER');
  });

  it('keeps a non-hex trace id as an extension instead of a traceparent', () => {
    const r = ok(decodeInput(rawRecord(aRawEvent({ traceId: 'not-hex' })), opts));
    expect(r.event.extensions.traceparent).toBeUndefined();
    expect(r.event.extensions.traceid).toBe('not-hex');
  });

  it('yields the same CloudEvent from binary, structured and raw JSON', () => {
    const e = aRawEvent();
    const fromRaw = wire(decodeInput(rawRecord(e), opts));
    expect(wire(decodeInput(binaryRecord(e), opts))).toEqual(fromRaw);
    expect(wire(decodeInput(structuredRecord(e), opts))).toEqual(fromRaw);
    // structured JSON without the content-type header is recognised by its specversion
    expect(wire(decodeInput({ ...structuredRecord(e), headers: {} }, opts))).toEqual(fromRaw);
  });

  it('reads structured data_base64 and non-JSON data', () => {
    const b64 = ok(
      decodeInput(
        structuredRecord(aRawEvent({ payload: undefined }), { data_base64: Buffer.from('hi').toString('base64') }),
        opts,
      ),
    );
    expect(b64.event.data.toString()).toBe('hi');
    const text = ok(
      decodeInput(
        structuredRecord(aRawEvent({ payload: undefined }), { datacontenttype: 'text/plain', data: 'plain words' }),
        opts,
      ),
    );
    expect(text.event.data.toString()).toBe('plain words');
    expect(text.event.datacontenttype).toBe('text/plain');
  });

  it('stringifies integer and boolean extension values of structured events', () => {
    const r = ok(decodeInput(structuredRecord(aRawEvent(), { priority: 3, urgent: true }), opts));
    expect(r.event.extensions).toMatchObject({ priority: '3', urgent: 'true' });
  });

  it('accepts a binary event without data', () => {
    const r = ok(decodeInput(binaryRecord(aRawEvent({ payload: undefined })), opts));
    expect(r.event.data.length).toBe(0);
  });

  it('accepts header values given as Buffers', () => {
    const rec = binaryRecord();
    const headers = Object.fromEntries(Object.entries(rec.headers).map(([k, v]) => [k, Buffer.from(v)]));
    expect(ok(decodeInput({ ...rec, headers }, opts)).event.id).toBe('evt-1');
  });

  it('uses the default 1 MiB limit', () => {
    const big = rawRecord(aRawEvent({ payload: { blob: 'x'.repeat(200_000) } }));
    expect(decodeInput(big).ok).toBe(true);
    expect(decodeInput(big, { maxEventBytes: 100_000 })).toMatchObject({ ok: false, code: 'INGEST.TOO_LARGE' });
  });

  const cases = poisonCases();
  it('has at least 20 kinds of poison input', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases.map((c) => [c.name, c] as const))('rejects %s', (_name, c) => {
    const r = decodeInput(c.record, opts);
    expect(r).toMatchObject({ ok: false, code: c.code });
    if (!r.ok) expect(r.reason.length).toBeGreaterThan(5);
  });

  it('rejects ids outside printable ASCII: the id is sent as the webhook-id header as is', () => {
    for (const eventId of ['evt-😀', 'évt-1', 'evt\u00a0x'])
      expect(decodeInput(rawRecord(aRawEvent({ eventId })), opts)).toMatchObject({ ok: false, code: 'INGEST.BAD_ID' });
    expect(decodeInput(binaryRecord(aRawEvent(), { ce_id: 'évt-1' }), opts)).toMatchObject({ code: 'INGEST.BAD_ID' });
    expect(ok(decodeInput(rawRecord(aRawEvent({ eventId: 'evt 1~!' })), opts)).event.id).toBe('evt 1~!');
  });

  it('rejects attributes with an unpaired surrogate (no UTF-8 form) but keeps paired ones', () => {
    const raw = (field: string, json: string) => ({
      key: 'tenant-a',
      value: Buffer.from(JSON.stringify({ ...aRawEvent(), [field]: '@@' }).replace('"@@"', json)),
      headers: {},
    });
    expect(decodeInput(raw('eventId', '"a\\ud800"'), opts)).toMatchObject({ code: 'INGEST.BAD_ENCODING' });
    expect(decodeInput(raw('eventType', '"user.\\udfff"'), opts)).toMatchObject({ code: 'INGEST.BAD_ENCODING' });
    expect(decodeInput(raw('resourceId', '"u-\\udc00\\ud800"'), opts)).toMatchObject({ code: 'INGEST.BAD_ENCODING' });
    expect(ok(decodeInput(raw('resourceId', '"u-\\ud83d\\ude00"'), opts)).event.subject).toBe('USER/u-😀');
  });

  it('says a wire-format value needs a registry when none is configured', () => {
    const value = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from('xyz')]);
    expect(decodeInput({ value }, opts)).toMatchObject({ ok: false, code: 'INGEST.NO_SCHEMA_REGISTRY' });
  });
});

describe('decodeRecord with a schema decoder', () => {
  const wireValue = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from('payload')]);
  const decoderReturning = (result: Awaited<ReturnType<SchemaDecoder['decode']>>): SchemaDecoder => ({
    decode: async () => result,
  });

  it('treats the decoded object as a raw platform event', async () => {
    const { payload, ...rest } = aRawEvent();
    const decoder = decoderReturning({
      ok: true,
      schemaId: 7,
      value: { ...rest, payloadJson: JSON.stringify(payload), resourceId: null },
    });
    const r = ok(await decodeRecord({ value: wireValue }, { ...opts, schemaDecoder: decoder }));
    expect(r.format).toBe('registry');
    expect(r.event.subject).toBe('USER');
    expect(JSON.parse(r.event.data.toString())).toEqual(payload);
    expect(r.event.extensions.traceparent).toBe(cloudEventAttributes(aRawEvent()).traceparent);
  });

  it('uses the JSON view of decoded messages that have one (protobuf)', async () => {
    const message = { toJSON: () => ({ ...aRawEvent(), payload: undefined, payloadJson: '{"a":1}' }) };
    const r = ok(
      await decodeRecord(
        { value: wireValue },
        { ...opts, schemaDecoder: decoderReturning({ ok: true, schemaId: 7, value: message }) },
      ),
    );
    expect(r.event.data.toString()).toBe('{"a":1}');
  });

  it.each([
    [
      'unknown schema id',
      { ok: false as const, code: 'INGEST.UNKNOWN_SCHEMA' as const, reason: 'schema 7 not found' },
      'INGEST.UNKNOWN_SCHEMA',
    ],
    [
      'bytes that do not fit',
      { ok: false as const, code: 'INGEST.SCHEMA_DECODE' as const, reason: 'truncated' },
      'INGEST.SCHEMA_DECODE',
    ],
    ['a decoded scalar', { ok: true as const, schemaId: 7, value: 'just a string' }, 'INGEST.NOT_AN_OBJECT'],
    [
      'a decoded event with invalid payloadJson',
      { ok: true as const, schemaId: 7, value: { ...aRawEvent(), payload: null, payloadJson: '{' } },
      'INGEST.BAD_DATA',
    ],
  ])('quarantines %s', async (_name, result, code) => {
    const r = await decodeRecord({ value: wireValue }, { ...opts, schemaDecoder: decoderReturning(result) });
    expect(r).toMatchObject({ ok: false, code });
  });

  it('lets a transient registry failure throw (the batch is retried, not quarantined)', async () => {
    const decoder: SchemaDecoder = {
      decode: async () => {
        throw new Error('ECONNREFUSED');
      },
    };
    await expect(decodeRecord({ value: wireValue }, { schemaDecoder: decoder })).rejects.toThrow('ECONNREFUSED');
  });

  it('does not call the decoder for other formats', async () => {
    const decoder: SchemaDecoder = {
      decode: async () => {
        throw new Error('should not be called');
      },
    };
    expect((await decodeRecord(rawRecord(), { schemaDecoder: decoder })).ok).toBe(true);
  });
});
