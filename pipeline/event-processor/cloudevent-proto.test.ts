import { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import { aRawEvent, binaryRecord, protoEvent } from '../../test/fixtures/platform-events';
import { recordFromProtoCloudEvent } from './cloudevent-proto';
import { decodeInput } from './decode-input';

const opts = { maxEventBytes: 64 * 1024 };

describe('recordFromProtoCloudEvent', () => {
  it('turns a proto CloudEvent into the binary-mode record Kafka ingest would decode the same way', () => {
    const e = aRawEvent();
    const r = recordFromProtoCloudEvent(protoEvent(e));
    if (!r.ok) throw new Error(r.reason);
    const fromProto = decodeInput(r.record, opts);
    const fromKafka = decodeInput(binaryRecord(e), opts);
    if (!fromProto.ok || !fromKafka.ok) throw new Error('expected both to decode');
    expect(fromProto.event).toEqual(fromKafka.event);
  });

  it('takes time as ce_timestamp and custom extensions of any type in their string form', () => {
    const ce = protoEvent(aRawEvent());
    ce.attributes.time = { attr: { $case: 'ceTimestamp', value: { seconds: 1_700_000_000, nanos: 5_000_000 } } };
    ce.attributes.priority = { attr: { $case: 'ceInteger', value: 7 } };
    ce.attributes.urgent = { attr: { $case: 'ceBoolean', value: true } };
    const r = recordFromProtoCloudEvent(ce);
    if (!r.ok) throw new Error(r.reason);
    expect(r.record.headers).toMatchObject({
      ce_time: '2023-11-14T22:13:20.005Z',
      ce_priority: '7',
      ce_urgent: 'true',
    });
  });

  it.each([
    ['tenantid', { $case: 'ceInteger' as const, value: 42 }, 'ce_string, not ce_integer'],
    ['resourcetype', { $case: 'ceBoolean' as const, value: true }, 'ce_string, not ce_boolean'],
    ['sourceservice', { $case: 'ceBytes' as const, value: Buffer.from('identity') }, 'ce_string, not ce_bytes'],
    ['time', { $case: 'ceInteger' as const, value: 1_700_000_000 }, 'ce_timestamp or ce_string, not ce_integer'],
  ])('refuses the hub attribute %s sent with the wrong type', (name, attr, says) => {
    const ce = CloudEvent.fromPartial(protoEvent(aRawEvent()));
    ce.attributes[name] = { attr };
    expect(recordFromProtoCloudEvent(ce)).toEqual({
      ok: false,
      field: `attributes.${name}`,
      reason: expect.stringContaining(`INGEST.BAD_ATTRIBUTE_TYPE: ${name} must be sent as ${says}`),
    });
  });

  it('refuses proto_data and attributes without a value', () => {
    const withProto = protoEvent(aRawEvent());
    withProto.data = { $case: 'protoData', value: { typeUrl: 'type.googleapis.com/x', value: Buffer.alloc(0) } };
    expect(recordFromProtoCloudEvent(withProto)).toMatchObject({ ok: false, field: 'proto_data' });
    const empty = protoEvent(aRawEvent());
    empty.attributes.tenantid = { attr: undefined };
    expect(recordFromProtoCloudEvent(empty)).toMatchObject({ ok: false, field: 'attributes.tenantid' });
  });
});
