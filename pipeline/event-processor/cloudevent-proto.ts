/**
 * The CloudEvents protobuf format (io.cloudevents.v1.CloudEvent) -> an ingest record in binary mode (ce_*
 * headers, data bytes), so gRPC ingest is decoded and validated by `decodeInput`, exactly like Kafka and HTTP
 * ingest. Pure.
 *
 *   id/source/spec_version/type ─▶ ce_id, ce_source, ce_specversion, ce_type
 *   attributes (each value's string form; timestamps RFC 3339) ─▶ ce_<name>; datacontenttype ─▶ content-type
 *   binary_data / text_data ─▶ value        proto_data ─▶ refused (the hub does not carry Any payloads)
 */
import type { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import type { IngestRecord } from './decode-input';

export type ProtoDecode = { ok: true; record: IngestRecord } | { ok: false; field: string; reason: string };

function attributeString(v: CloudEvent['attributes'][string]): string | undefined {
  const a = v.attr;
  if (!a) return undefined;
  switch (a.$case) {
    case 'ceBoolean':
      return String(a.value);
    case 'ceInteger':
      return String(a.value);
    case 'ceString':
    case 'ceUri':
    case 'ceUriRef':
      return a.value;
    case 'ceBytes':
      return Buffer.from(a.value).toString('base64');
    case 'ceTimestamp':
      return new Date(a.value.seconds * 1000 + Math.floor(a.value.nanos / 1_000_000)).toISOString();
  }
}

export function recordFromProtoCloudEvent(ce: CloudEvent): ProtoDecode {
  const headers: Record<string, string> = {};
  const core = { id: ce.id, source: ce.source, specversion: ce.specVersion, type: ce.type };
  for (const [name, value] of Object.entries(core)) if (value !== '') headers[`ce_${name}`] = value;
  for (const [name, v] of Object.entries(ce.attributes)) {
    const s = attributeString(v);
    if (s === undefined) return { ok: false, field: `attributes.${name}`, reason: 'the attribute has no value' };
    const lower = name.toLowerCase();
    if (lower === 'datacontenttype') headers['content-type'] = s;
    else headers[`ce_${lower}`] = s;
  }
  const data = ce.data;
  if (data?.$case === 'protoData') {
    return { ok: false, field: 'proto_data', reason: 'proto_data is not accepted; send binary_data or text_data' };
  }
  const value =
    data === undefined ? null : data.$case === 'binaryData' ? Buffer.from(data.value) : Buffer.from(data.value, 'utf8');
  return { ok: true, record: { value: value && value.length > 0 ? value : null, headers } };
}
