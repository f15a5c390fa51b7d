/**
 * decode-input: one ingest record (headers, key, value) -> a validated HubCloudEvent, or a poison verdict with a
 * dotted code and a reason. Pure; the only I/O (schema registry) sits behind the `SchemaDecoder` port.
 *
 *   record ─┬─ any ce_* header ─────────────────▶ CloudEvents Kafka binding, binary mode (fromKafkaBinary)
 *           ├─ content-type cloudevents-batch ──▶ INGEST.BATCH_NOT_ALLOWED (batches exist on HTTP only)
 *           ├─ content-type cloudevents+json ───▶ structured mode
 *           ├─ first byte 0x00 ─────────────────▶ Confluent wire format ─ SchemaDecoder ─▶ raw platform event
 *           └─ JSON object ─┬─ has specversion ─▶ structured mode
 *                           └─ otherwise ───────▶ raw platform event, normalised (./README.md, "Raw event mapping")
 *   every path ends in validateEvent(): required attributes, specversion 1.0, tenant id format, the four
 *   match-key fields, id/time/traceparent/extension-name formats.
 *
 * Expected failures are values: a transient registry failure is the only thing that throws (the batch is retried).
 */
import { EXT, fromKafkaBinary, type HubCloudEvent, type KafkaHeaders } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import type { MatchableEvent } from '../shared/subscriptions/subscription-index';
import { deriveTraceparent, isValidTraceparent } from './traceparent';

export const INGEST_CODES = {
  emptyValue: 'INGEST.EMPTY_VALUE',
  tooLarge: 'INGEST.TOO_LARGE',
  badEncoding: 'INGEST.BAD_ENCODING',
  badJson: 'INGEST.BAD_JSON',
  notAnObject: 'INGEST.NOT_AN_OBJECT',
  batchNotAllowed: 'INGEST.BATCH_NOT_ALLOWED',
  unsupportedContentType: 'INGEST.UNSUPPORTED_CONTENT_TYPE',
  missingAttribute: 'INGEST.MISSING_ATTRIBUTE',
  badAttributeType: 'INGEST.BAD_ATTRIBUTE_TYPE',
  badAttributeName: 'INGEST.BAD_ATTRIBUTE_NAME',
  badSpecversion: 'INGEST.BAD_SPECVERSION',
  badId: 'INGEST.BAD_ID',
  missingTenant: 'INGEST.MISSING_TENANT',
  badTenant: 'INGEST.BAD_TENANT',
  missingMatchKey: 'INGEST.MISSING_MATCH_KEY',
  badMatchKey: 'INGEST.BAD_MATCH_KEY',
  badTime: 'INGEST.BAD_TIME',
  badTraceparent: 'INGEST.BAD_TRACEPARENT',
  badData: 'INGEST.BAD_DATA',
  badWireFormat: 'INGEST.BAD_WIRE_FORMAT',
  noSchemaRegistry: 'INGEST.NO_SCHEMA_REGISTRY',
  unknownSchema: 'INGEST.UNKNOWN_SCHEMA',
  schemaDecode: 'INGEST.SCHEMA_DECODE',
  /** The handler threw (a bug): the record is quarantined so the partition moves on. */
  processingError: 'INGEST.PROCESSING_ERROR',
} as const;
export type IngestCode = (typeof INGEST_CODES)[keyof typeof INGEST_CODES];

export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
const MAX_ID_LENGTH = 256;
const MAX_KEY_PART_LENGTH = 128;
/** CloudEvents: extension names are lower-case ASCII letters or digits, at most 20 characters. */
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(;|$)/i;
/**
 * A UTF-16 surrogate without its pair (only reachable through a JSON `\uD800` escape: UTF-8 input cannot carry
 * one). Such a string has no UTF-8 form: Kafka headers and HTTP would carry U+FFFD instead, so the attribute
 * would silently change between ingest and delivery.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * The id is the Standard Webhooks `webhook-id` header and the subscriber's dedupe key, sent as is: printable
 * ASCII only (a header value outside Latin-1 cannot be sent at all, and Latin-1 bytes read back differently).
 */
const PRINTABLE_ASCII_ID = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** One record as it came off an ingest topic (or was built from an HTTP request). */
export interface IngestRecord {
  key?: Buffer | string | null;
  value: Buffer | null;
  headers?: KafkaHeaders;
}

export type InputFormat = 'binary' | 'structured' | 'raw' | 'registry';

export type DecodeResult =
  | { ok: true; event: HubCloudEvent; format: InputFormat; match: MatchableEvent }
  | { ok: false; code: IngestCode; reason: string };

export type DecodeFailure = Extract<DecodeResult, { ok: false }>;

export interface DecodeOptions {
  /** Size limit of value + headers, bytes. */
  maxEventBytes?: number;
}

/**
 * Port: decodes a Confluent wire-format value (magic byte 0, 4-byte schema id, payload) with the schema the
 * registry holds under that id.
 */
export interface SchemaDecoder {
  /**
   * Resolves `{ok:false}` for permanent problems (the registry does not know the id, the bytes do not fit the
   * schema); rejects for transient ones (registry unreachable) so the caller retries instead of quarantining.
   */
  decode(value: Buffer): Promise<
    /** `dataschema`: a URI of the schema in the registry, for the CloudEvent's `dataschema` attribute. */
    | { ok: true; value: unknown; schemaId: number; dataschema?: string }
    | { ok: false; code: 'INGEST.UNKNOWN_SCHEMA' | 'INGEST.SCHEMA_DECODE'; reason: string }
  >;
}

const fail = (code: IngestCode, reason: string): DecodeFailure => ({ ok: false, code, reason });

/**
 * Decodes any record. Async only for Confluent wire-format values (registry lookup); everything else is
 * decided synchronously by `decodeInput`.
 */
export async function decodeRecord(
  record: IngestRecord,
  opts: DecodeOptions & { schemaDecoder?: SchemaDecoder } = {},
): Promise<DecodeResult> {
  const first = decodeInput(record, opts);
  if (first.ok || first.code !== INGEST_CODES.noSchemaRegistry || !opts.schemaDecoder) return first;
  // Wire format and a registry is configured: decode, then treat the object as a raw platform event.
  const decoded = await opts.schemaDecoder.decode(record.value!);
  if (!decoded.ok) return fail(decoded.code, decoded.reason);
  const obj = plainObject(decoded.value);
  if (!obj) return fail(INGEST_CODES.notAnObject, `schema ${decoded.schemaId} decoded to a non-object`);
  const draft = fromRawEvent(obj);
  if (draft.ok && decoded.dataschema) draft.event.dataschema = decoded.dataschema;
  return finish(draft, 'registry');
}

/**
 * Decides every format except registry-encoded values, which come back as INGEST.NO_SCHEMA_REGISTRY
 * (`decodeRecord` completes them when a registry is configured).
 */
export function decodeInput(record: IngestRecord, opts: DecodeOptions = {}): DecodeResult {
  const maxBytes = opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const headers = record.headers ?? {};
  const value = record.value;
  const size = recordSize(headers, value);
  if (size > maxBytes) return fail(INGEST_CODES.tooLarge, `record is ${size} bytes, the limit is ${maxBytes}`);

  const hasCeHeaders = Object.keys(headers).some((h) => h.toLowerCase().startsWith('ce_'));
  if (hasCeHeaders) return decodeBinary(headers, value);

  if (value === null || value.length === 0)
    return fail(INGEST_CODES.emptyValue, 'record has no value and no ce_* headers (tombstone?)');

  const contentType = contentTypeOf(headers);
  if (contentType && /^application\/cloudevents-batch\b/i.test(contentType))
    return fail(
      INGEST_CODES.batchNotAllowed,
      'batched CloudEvents are not allowed on Kafka; send one event per record',
    );
  if (contentType && /^application\/cloudevents\b/i.test(contentType)) {
    if (!/^application\/cloudevents\+json\s*(;|$)/i.test(contentType))
      return fail(
        INGEST_CODES.unsupportedContentType,
        `structured mode "${contentType}" is not supported; use application/cloudevents+json`,
      );
    const parsed = parseJsonObject(value);
    if (!parsed.ok) return parsed;
    return finish(fromStructured(parsed.value), 'structured');
  }

  if (value[0] === 0) {
    if (value.length < 6)
      return fail(INGEST_CODES.badWireFormat, `value starts with magic byte 0 but is only ${value.length} bytes`);
    return fail(
      INGEST_CODES.noSchemaRegistry,
      `value is Confluent wire format (schema id ${value.readInt32BE(1)}) but no schema registry is configured`,
    );
  }

  const parsed = parseJsonObject(value);
  if (!parsed.ok) return parsed;
  if ('specversion' in parsed.value) return finish(fromStructured(parsed.value), 'structured');
  return finish(fromRawEvent(parsed.value), 'raw');
}

function recordSize(headers: KafkaHeaders, value: Buffer | null): number {
  let n = value?.length ?? 0;
  for (const [k, v] of Object.entries(headers)) {
    n += k.length;
    for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined) n += item.length;
  }
  return n;
}

function contentTypeOf(headers: KafkaHeaders): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'content-type') return headerString(v);
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonObject(value: Buffer): { ok: true; value: Record<string, unknown> } | DecodeFailure {
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return fail(INGEST_CODES.badEncoding, 'value is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(INGEST_CODES.badJson, `value is not JSON: ${(err as Error).message}`);
  }
  const obj = plainObject(parsed);
  if (!obj) return fail(INGEST_CODES.notAnObject, `value is JSON ${describe(parsed)}, expected an object`);
  return { ok: true, value: obj };
}

function plainObject(v: unknown): Record<string, unknown> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  // protobufjs messages and similar: use their JSON view.
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const j = (toJSON as () => unknown).call(v);
    return j !== null && typeof j === 'object' && !Array.isArray(j) ? (j as Record<string, unknown>) : undefined;
  }
  return v as Record<string, unknown>;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Intermediate: an event not yet validated. */
type Draft = { ok: true; event: HubCloudEvent } | DecodeFailure;

function decodeBinary(headers: KafkaHeaders, value: Buffer | null): DecodeResult {
  const specversion = headerOf(headers, 'ce_specversion');
  if (specversion !== undefined && specversion !== '1.0')
    return fail(INGEST_CODES.badSpecversion, `unsupported specversion "${specversion}" (header ce_specversion)`);
  const r = fromKafkaBinary(headers, value);
  if (!r.ok) return fail(INGEST_CODES.missingAttribute, r.reason);
  const ev = r.event;
  for (const name of Object.keys(ev.extensions))
    if (!EXTENSION_NAME.test(name))
      return fail(INGEST_CODES.badAttributeName, `header ce_${name}: CloudEvent attribute names are [a-z0-9]{1,20}`);
  if (ev.data.length > 0 && ev.datacontenttype && JSON_CONTENT_TYPE.test(ev.datacontenttype)) {
    try {
      JSON.parse(utf8.decode(ev.data));
    } catch {
      return fail(INGEST_CODES.badData, `content-type is ${ev.datacontenttype} but the value is not valid JSON`);
    }
  }
  return finish({ ok: true, event: ev }, 'binary');
}

function headerOf(headers: KafkaHeaders, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return headerString(v);
  return undefined;
}

const STRUCTURED_CORE = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'dataschema',
  'datacontenttype',
  'data',
  'data_base64',
]);

function fromStructured(obj: Record<string, unknown>): Draft {
  if (obj.specversion === undefined || obj.specversion === null)
    return fail(INGEST_CODES.missingAttribute, 'missing CloudEvent attribute specversion');
  if (obj.specversion !== '1.0')
    return fail(INGEST_CODES.badSpecversion, `unsupported specversion ${JSON.stringify(obj.specversion)}`);
  const core: Record<string, string | undefined> = {};
  for (const name of ['id', 'source', 'type'] as const) {
    const v = obj[name];
    if (v === undefined || v === null || v === '')
      return fail(INGEST_CODES.missingAttribute, `missing CloudEvent attribute ${name}`);
    if (typeof v !== 'string') return fail(INGEST_CODES.badAttributeType, `attribute ${name} must be a string`);
    core[name] = v;
  }
  for (const name of ['time', 'subject', 'dataschema', 'datacontenttype'] as const) {
    const v = obj[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return fail(INGEST_CODES.badAttributeType, `attribute ${name} must be a string`);
    core[name] = v;
  }
  const extensions: Record<string, string> = {};
  for (const [name, v] of Object.entries(obj)) {
    if (STRUCTURED_CORE.has(name) || v === null || v === undefined) continue;
    if (!EXTENSION_NAME.test(name))
      return fail(INGEST_CODES.badAttributeName, `attribute "${name}": CloudEvent attribute names are [a-z0-9]{1,20}`);
    if (typeof v === 'string') extensions[name] = v;
    else if (typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) extensions[name] = String(v);
    else return fail(INGEST_CODES.badAttributeType, `extension ${name} must be a string, integer or boolean`);
  }
  let data = Buffer.alloc(0);
  let datacontenttype = core.datacontenttype;
  const hasData = obj.data !== undefined && obj.data !== null;
  const hasBase64 = obj.data_base64 !== undefined && obj.data_base64 !== null;
  if (hasData && hasBase64) return fail(INGEST_CODES.badData, 'both data and data_base64 are present');
  if (hasBase64) {
    const b64 = obj.data_base64;
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      return fail(INGEST_CODES.badData, 'data_base64 is not valid base64');
    data = Buffer.from(b64, 'base64');
  } else if (hasData) {
    // JSON format: data without datacontenttype is application/json.
    datacontenttype ??= 'application/json';
    if (typeof obj.data === 'string' && !JSON_CONTENT_TYPE.test(datacontenttype)) data = Buffer.from(obj.data, 'utf8');
    else data = Buffer.from(JSON.stringify(obj.data), 'utf8');
  }
  return {
    ok: true,
    event: {
      specversion: '1.0',
      id: core.id!,
      source: core.source!,
      type: core.type!,
      ...(core.time !== undefined ? { time: core.time } : {}),
      ...(core.subject !== undefined ? { subject: core.subject } : {}),
      ...(core.dataschema !== undefined ? { dataschema: core.dataschema } : {}),
      ...(datacontenttype !== undefined ? { datacontenttype } : {}),
      extensions,
      data,
    },
  };
}

/**
 * Raw platform event -> CloudEvent (documented in pipeline/event-processor/README.md, "Raw event mapping"):
 * id=eventId|id, source=//<sourceService>, type=eventType, time=occurredAt, subject=<resourceType>[/<resourceId>],
 * datacontenttype=application/json, data=payload (JSON) or payloadJson (JSON text, for Avro/Protobuf), extensions
 * tenantid, sourceservice, resourcetype, operationtype, correlationid, traceparent (from a 32-hex traceId).
 */
export function fromRawEvent(obj: Record<string, unknown>): Draft {
  const str = (name: string): { ok: true; value: string | undefined } | DecodeFailure => {
    const v = obj[name];
    if (v === undefined || v === null || v === '') return { ok: true, value: undefined };
    if (typeof v === 'string') return { ok: true, value: v };
    if (typeof v === 'number' && name === 'resourceId') return { ok: true, value: String(v) };
    return fail(INGEST_CODES.badAttributeType, `field ${name} must be a string`);
  };
  const fields: Record<string, string | undefined> = {};
  for (const name of [
    'eventId',
    'id',
    'sourceService',
    'eventType',
    'resourceType',
    'resourceId',
    'operationType',
    'tenantId',
    'occurredAt',
    'traceId',
    'correlationId',
    'payloadJson',
  ]) {
    const r = str(name);
    if (!r.ok) return r;
    fields[name] = r.value;
  }
  const id = fields.eventId ?? fields.id;
  if (!id) return fail(INGEST_CODES.missingAttribute, 'missing field eventId (or id)');
  if (!fields.tenantId) return fail(INGEST_CODES.missingTenant, 'missing field tenantId');
  for (const name of ['sourceService', 'eventType', 'resourceType', 'operationType'])
    if (!fields[name]) return fail(INGEST_CODES.missingMatchKey, `missing field ${name}`);

  let data = Buffer.alloc(0);
  if (obj.payload !== undefined && obj.payload !== null) data = Buffer.from(JSON.stringify(obj.payload), 'utf8');
  else if (fields.payloadJson !== undefined) {
    try {
      JSON.parse(fields.payloadJson);
    } catch {
      return fail(INGEST_CODES.badData, 'payloadJson is not valid JSON');
    }
    data = Buffer.from(fields.payloadJson, 'utf8');
  }
  const extensions: Record<string, string> = {
    [EXT.tenant]: fields.tenantId,
    [EXT.sourceService]: fields.sourceService!,
    [EXT.resourceType]: fields.resourceType!,
    [EXT.operationType]: fields.operationType!,
  };
  if (fields.correlationId) extensions[EXT.correlationId] = fields.correlationId;
  if (fields.traceId) {
    // A trace id that is not 32 hex cannot seed a W3C traceparent; the handler then derives one from the id.
    if (/^[0-9a-f]{32}$/i.test(fields.traceId)) extensions[EXT.traceparent] = deriveTraceparent(id, fields.traceId);
    else extensions.traceid = fields.traceId.slice(0, 256);
  }
  return {
    ok: true,
    event: {
      specversion: '1.0',
      id,
      source: `//${fields.sourceService}`,
      type: fields.eventType!,
      ...(fields.occurredAt !== undefined ? { time: fields.occurredAt } : {}),
      subject: fields.resourceId ? `${fields.resourceType}/${fields.resourceId}` : fields.resourceType!,
      ...(data.length > 0 ? { datacontenttype: 'application/json' } : {}),
      extensions,
      data,
    },
  };
}

function finish(draft: Draft, format: InputFormat): DecodeResult {
  if (!draft.ok) return draft;
  const invalid = validateEvent(draft.event);
  if (invalid) return invalid;
  const e = draft.event;
  return {
    ok: true,
    event: e,
    format,
    match: {
      tenantId: e.extensions[EXT.tenant]!,
      sourceService: e.extensions[EXT.sourceService]!,
      eventType: e.type,
      resourceType: e.extensions[EXT.resourceType]!,
      operationType: e.extensions[EXT.operationType]!,
    },
  };
}

/** The rules every ingested event meets, whatever its format. Returns the first violation. */
export function validateEvent(e: HubCloudEvent): DecodeFailure | undefined {
  if (e.specversion !== '1.0') return fail(INGEST_CODES.badSpecversion, `unsupported specversion "${e.specversion}"`);
  const attributes: [string, string | undefined][] = [
    ['id', e.id],
    ['source', e.source],
    ['type', e.type],
    ['subject', e.subject],
    ['time', e.time],
    ['dataschema', e.dataschema],
    ['datacontenttype', e.datacontenttype],
    ...Object.entries(e.extensions),
  ];
  const broken = attributes.find(([, v]) => typeof v === 'string' && LONE_SURROGATE.test(v));
  if (broken)
    return fail(
      INGEST_CODES.badEncoding,
      `attribute ${broken[0]} contains an unpaired UTF-16 surrogate (\\uD800-\\uDFFF)`,
    );
  if (e.id.length > MAX_ID_LENGTH || !PRINTABLE_ASCII_ID.test(e.id))
    return fail(
      INGEST_CODES.badId,
      `id must be 1-${MAX_ID_LENGTH} printable ASCII characters without surrounding spaces (it is the webhook-id header)`,
    );
  if (e.source.length > 1024 || CONTROL.test(e.source))
    return fail(INGEST_CODES.badAttributeType, 'source must be at most 1024 printable characters');
  const tenant = e.extensions[EXT.tenant];
  if (tenant === undefined || tenant === '')
    return fail(INGEST_CODES.missingTenant, 'missing tenant (extension tenantid / field tenantId)');
  if (!TENANT_ID.test(tenant))
    return fail(
      INGEST_CODES.badTenant,
      `tenant id "${tenant.slice(0, 64)}" must match ${TENANT_ID.source} (letters, digits, . _ -; at most 128)`,
    );
  const parts: [string, string | undefined][] = [
    ['type', e.type],
    [EXT.sourceService, e.extensions[EXT.sourceService]],
    [EXT.resourceType, e.extensions[EXT.resourceType]],
    [EXT.operationType, e.extensions[EXT.operationType]],
  ];
  for (const [name, v] of parts) {
    if (v === undefined || v === '')
      return fail(INGEST_CODES.missingMatchKey, `missing ${name} (needed to match subscriptions)`);
    if (v === '*' || v.length > MAX_KEY_PART_LENGTH || CONTROL.test(v))
      return fail(
        INGEST_CODES.badMatchKey,
        `${name} must be 1-${MAX_KEY_PART_LENGTH} printable characters and not the wildcard "*"`,
      );
  }
  if (e.time !== undefined && (!RFC3339.test(e.time) || Number.isNaN(Date.parse(e.time))))
    return fail(INGEST_CODES.badTime, `time "${e.time.slice(0, 64)}" is not an RFC 3339 timestamp`);
  const tp = e.extensions[EXT.traceparent];
  if (tp !== undefined && !isValidTraceparent(tp))
    return fail(INGEST_CODES.badTraceparent, `traceparent "${tp.slice(0, 64)}" is not a valid W3C traceparent`);
  return undefined;
}
