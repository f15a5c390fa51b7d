/**
 * The CloudEvents protobuf format (io.cloudevents.v1.CloudEvent) -> an ingest record in binary mode (ce_*
 * headers, data bytes), so gRPC ingest is decoded and validated by `decodeInput`, exactly like Kafka and HTTP
 * ingest. Pure.
 *
 *   id/source/spec_version/type ─▶ ce_id, ce_source, ce_specversion, ce_type
 *   attributes (each value's string form; timestamps RFC 3339) ─▶ ce_<name>; datacontenttype ─▶ content-type
 *   binary_data / text_data ─▶ value        proto_data ─▶ refused (the hub does not carry Any payloads)
 *
 * The attributes the hub defines have a CloudEvents type, and the proto format says which one was sent: a
 * String attribute (tenantid, the match key, subject, …) sent as ce_integer, ce_bytes, … is refused with
 * INGEST.BAD_ATTRIBUTE_TYPE rather than turned into its string form; `time` takes ce_timestamp or its RFC 3339
 * string, `dataschema` ce_uri or a string. Other extensions may have any type (their canonical string form).
 */
import type { CloudEvent } from '../../schemas/proto/gen/io/cloudevents/v1/cloudevents';
import { INGEST_CODES, type IngestRecord } from './decode-input';

type AttrCase = NonNullable<CloudEvent['attributes'][string]['attr']>['$case'];

/** The proto types each attribute of the hub's contract may arrive as (ce_string = the canonical string form). */
const TYPED: Record<string, readonly AttrCase[]> = {
  tenantid: ['ceString'],
  sourceservice: ['ceString'],
  resourcetype: ['ceString'],
  operationtype: ['ceString'],
  subject: ['ceString'],
  correlationid: ['ceString'],
  traceparent: ['ceString'],
  datacontenttype: ['ceString'],
  time: ['ceTimestamp', 'ceString'],
  dataschema: ['ceUri', 'ceString'],
};

const snake = (c: string) => c.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);

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
    const allowed = TYPED[lower];
    if (allowed && v.attr && !allowed.includes(v.attr.$case)) {
      return {
        ok: false,
        field: `attributes.${name}`,
        reason: `${INGEST_CODES.badAttributeType}: ${lower} must be sent as ${allowed.map(snake).join(' or ')}, not ${snake(v.attr.$case)}`,
      };
    }
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
