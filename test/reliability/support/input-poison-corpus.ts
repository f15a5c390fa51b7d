/**
 * The poison corpus of reliability scenario 7 beyond the decode-input catalogue (`poisonCases()`): broken
 * schema-registry framing, unicode edge cases on Kafka, and malformed HTTP ingest requests with the status each
 * must get.
 */

import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { request } from 'undici';
import type { RegisteredPlatformSchemas } from '../../../scripts/register-schemas';
import {
  aRawEvent,
  binaryRecord,
  type PoisonCase,
  type RawPlatformEvent,
  rawRecord,
  structuredRecord,
} from '../../fixtures/platform-events';
import { vendorRequest } from '../../support/inbound';
import { flatHeaders } from './security-routes';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** Raw JSON text of a platform event with one field replaced by `json` (escapes JSON.stringify would fix). */
const rawWith = (field: keyof RawPlatformEvent, json: string) => {
  const e = aRawEvent({ eventId: `x-${Math.random().toString(36).slice(2)}` });
  const text = JSON.stringify({ ...e, [field]: '@@' }).replace('"@@"', json);
  return { key: e.tenantId, value: Buffer.from(text), headers: {} };
};

/** Magic byte 0 and the schema id: the Confluent wire-format header. */
function wireHeader(schemaId: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeInt32BE(schemaId, 1);
  return b;
}

export async function kafkaPoisonExtras(
  registry: SchemaRegistry,
  ids: RegisteredPlatformSchemas,
): Promise<PoisonCase[]> {
  const { payload, ...rest } = aRawEvent();
  const avro = await registry.encode(ids.avro, { ...rest, payloadJson: JSON.stringify(payload) });
  const e = (o: Partial<RawPlatformEvent> = {}) =>
    aRawEvent({ eventId: `u-${Math.random().toString(36).slice(2)}`, ...o });
  return [
    // Registry framing
    {
      name: 'registry-encoded with an unknown schema id',
      code: 'INGEST.UNKNOWN_SCHEMA',
      record: { key: 'tenant-a', value: bytes([...wireHeader(0x7ffffff0)], 'xx'), headers: {} },
    },
    {
      name: 'registry-encoded bytes cut short for the Avro schema',
      code: 'INGEST.SCHEMA_DECODE',
      record: { key: 'tenant-a', value: avro.subarray(0, 12), headers: {} },
    },
    {
      name: 'registry-encoded JSON violating the JSON Schema',
      code: 'INGEST.SCHEMA_DECODE',
      record: { key: 'tenant-a', value: bytes([...wireHeader(ids.json)], '{"eventId":"x"}'), headers: {} },
    },
    {
      name: 'magic byte 0 and a schema id but no payload',
      code: 'INGEST.BAD_WIRE_FORMAT',
      record: { key: 'tenant-a', value: wireHeader(ids.avro), headers: {} },
    },
    // Unicode and encoding edge cases
    {
      name: 'overlong UTF-8 encoding of "/"',
      code: 'INGEST.BAD_ENCODING',
      record: { key: 'k', value: bytes('{"a":"', [0xc0, 0xaf], '"}'), headers: {} },
    },
    {
      name: 'UTF-8-encoded lone surrogate (CESU-8)',
      code: 'INGEST.BAD_ENCODING',
      record: { key: 'k', value: bytes('{"a":"', [0xed, 0xa0, 0x80], '"}'), headers: {} },
    },
    {
      name: 'UTF-16LE-encoded JSON',
      code: 'INGEST.BAD_JSON',
      record: { key: 'k', value: Buffer.from(JSON.stringify(e()), 'utf16le'), headers: {} },
    },
    {
      name: 'escaped lone surrogate in the event id',
      code: 'INGEST.BAD_ENCODING',
      record: rawWith('eventId', '"evt-\\ud800-x"'),
    },
    {
      name: 'escaped lone surrogate in the event type',
      code: 'INGEST.BAD_ENCODING',
      record: rawWith('eventType', '"user.\\udfff"'),
    },
    {
      name: 'emoji in the event id (the id is the webhook-id header)',
      code: 'INGEST.BAD_ID',
      record: rawRecord(e({ eventId: 'evt-😀' })),
    },
    {
      name: 'non-ASCII letter in a binary-mode ce_id header',
      code: 'INGEST.BAD_ID',
      record: binaryRecord(e(), { ce_id: 'évt-1' }),
    },
    {
      name: 'zero-width space in the tenant id',
      code: 'INGEST.BAD_TENANT',
      record: rawRecord(e({ tenantId: 'tenant\u200ba' })),
    },
    {
      name: 'full-width letters as tenant id',
      code: 'INGEST.BAD_TENANT',
      record: rawRecord(e({ tenantId: 'ｔｅｎａｎｔ' })),
    },
    { name: 'NUL in the event id', code: 'INGEST.BAD_ID', record: rawRecord(e({ eventId: 'evt\u0000-1' })) },
    { name: 'CR LF in the event id', code: 'INGEST.BAD_ID', record: rawRecord(e({ eventId: 'evt\r\nx: y' })) },
    {
      name: 'NUL in the resource type',
      code: 'INGEST.BAD_MATCH_KEY',
      record: rawRecord(e({ resourceType: 'US\u0000ER' })),
    },
    {
      name: 'JSON null',
      code: 'INGEST.NOT_AN_OBJECT',
      record: { key: 'k', value: Buffer.from('null'), headers: {} },
    },
    {
      name: 'array nested 20 000 deep',
      code: 'INGEST.NOT_AN_OBJECT',
      record: { key: 'k', value: Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`), headers: {} },
    },
    {
      name: 'binary mode with a time that is not RFC 3339',
      code: 'INGEST.BAD_TIME',
      record: binaryRecord(e(), { ce_time: '2025-13-45 noon' }),
    },
    {
      name: 'structured mode with an empty source',
      code: 'INGEST.MISSING_ATTRIBUTE',
      record: structuredRecord(e(), { source: '' }),
    },
  ];
}

export interface HttpPoisonCase {
  name: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The status the API must answer. */
  status: number;
  /** Default POST /v1/events on the event API; framework errors (routing) are tried on other requests. */
  target?: HttpTarget;
}

export interface HttpTarget {
  service: 'eventApi' | 'subscriptionApi';
  method: 'GET' | 'POST';
  path: string;
}

export function httpPoisonCases(tenantId: string): HttpPoisonCase[] {
  const e = (o: Partial<RawPlatformEvent> = {}) =>
    aRawEvent({ eventId: `h-${Math.random().toString(36).slice(2)}`, tenantId, ...o });
  const structured = (o: Partial<RawPlatformEvent> = {}, attrs: Record<string, unknown> = {}) =>
    structuredRecord(e(o), attrs).value!;
  const ce = { 'content-type': 'application/cloudevents+json' };
  const batch = { 'content-type': 'application/cloudevents-batch+json' };
  const binary = (o: Record<string, string> = {}) => {
    const r = binaryRecord(e());
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...r.headers, ...o })) headers[k.replace(/^ce_/, 'ce-')] = v;
    return { headers, body: r.value! };
  };
  const withoutHeader = (x: { headers: Record<string, string>; body: Buffer }, name: string) => {
    const headers = { ...x.headers };
    delete headers[name];
    return { ...x, headers };
  };
  return [
    { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: Buffer.from('hello'), status: 415 },
    { name: 'application/xml', headers: { 'content-type': 'application/xml' }, body: Buffer.from('<e/>'), status: 415 },
    { name: 'no content type', headers: {}, body: structured(), status: 415 },
    {
      name: 'raw platform JSON as application/json without ce- headers',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(e())),
      status: 415,
    },
    {
      name: 'form-urlencoded',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from('id=1&type=x'),
      status: 415,
    },
    {
      name: 'structured mode in XML',
      headers: { 'content-type': 'application/cloudevents+xml' },
      body: Buffer.from('<event/>'),
      status: 400,
    },
    { name: 'truncated JSON', headers: ce, body: structured().subarray(0, 40), status: 400 },
    { name: 'empty body', headers: ce, body: Buffer.alloc(0), status: 400 },
    { name: 'JSON array as a single event', headers: ce, body: Buffer.from(`[${structured()}]`), status: 400 },
    { name: 'batch that is not an array', headers: batch, body: structured(), status: 400 },
    { name: 'empty batch', headers: batch, body: Buffer.from('[]'), status: 400 },
    {
      name: 'batch with one invalid event among good ones',
      headers: batch,
      body: Buffer.from(`[${structured()},${structured({}, { specversion: '0.3' })},${structured()}]`),
      status: 400,
    },
    {
      name: 'batch with more events than allowed',
      headers: batch,
      body: Buffer.from(`[${Array.from({ length: 51 }, () => structured().toString()).join(',')}]`),
      status: 413,
    },
    { name: 'binary mode without ce-source', ...withoutHeader(binary(), 'ce-source'), status: 400 },
    { name: 'binary mode with ce-specversion 2.0', ...binary({ 'ce-specversion': '2.0' }), status: 400 },
    { name: 'structured mode with a numeric id', headers: ce, body: structured({}, { id: 42 }), status: 400 },
    { name: 'structured mode without type', headers: ce, body: structured({}, { type: undefined }), status: 400 },
    { name: 'structured mode with a bad time', headers: ce, body: structured({}, { time: 'yesterday' }), status: 400 },
    {
      name: 'structured mode with an upper-case extension name',
      headers: ce,
      body: structured({}, { TenantId: tenantId }),
      status: 400,
    },
    { name: 'invalid UTF-8', headers: ce, body: bytes('{"id":"', [0xff, 0xfe], '"}'), status: 400 },
    {
      name: 'escaped lone surrogate in the id',
      headers: ce,
      body: Buffer.from(
        structured()
          .toString()
          .replace(/"id":"[^"]*"/, '"id":"h-\\udc00"'),
      ),
      status: 400,
    },
    { name: 'emoji in the id', headers: ce, body: structured({ eventId: 'h-😀' }), status: 400 },
    {
      name: 'zero-width space in the tenant id',
      headers: ce,
      body: structured({ tenantId: `${tenantId}\u200b` }),
      status: 400,
    },
    { name: 'NUL in a match key', headers: ce, body: structured({ resourceType: 'US\u0000ER' }), status: 400 },
    {
      name: 'one event larger than MAX_EVENT_BYTES',
      headers: ce,
      body: structured({ payload: { blob: 'x'.repeat(70_000) } }),
      status: 413,
    },
    {
      name: 'body larger than HTTP_BODY_LIMIT_BYTES',
      headers: ce,
      body: structured({ payload: { blob: 'y'.repeat(200_000) } }),
      status: 413,
    },
    // Errors fastify finds while routing, before any hook: the same problem+json.
    {
      name: 'path id of 200 characters',
      headers: {},
      status: 414,
      target: { service: 'subscriptionApi', method: 'GET', path: `/v1/subscriptions/${'s'.repeat(200)}` },
    },
    {
      name: 'unknown route',
      headers: ce,
      body: structured(),
      status: 404,
      target: { service: 'eventApi', method: 'POST', path: '/v1/event' },
    },
  ];
}

/**
 * Inbound webhook poison for a Stripe-signed source: what a hostile or broken vendor sends to
 * `POST /v1/inbound/{sourceId}`. Each is refused with the status given, and nothing is produced.
 */
export function inboundPoisonCases(
  source: { id: string; secret: string },
  tag: string,
): { name: string; path: string; headers: Record<string, string>; body: Buffer; status: number; bare?: boolean }[] {
  const path = `/v1/inbound/${source.id}`;
  const signed = (body: string, secret = source.secret) => {
    const r = vendorRequest('STRIPE', secret, { deliveryId: `evt_${tag}`, body });
    return { headers: r.headers, body: Buffer.from(r.body) };
  };
  const valid = JSON.stringify({ id: `evt_${tag}`, object: 'event', type: 'invoice.paid' });
  const bomb: Record<string, string> = { ...signed(valid).headers };
  for (let i = 0; i < 400; i++) bomb[`x-bomb-${i}`] = 'y'.repeat(100);
  return [
    {
      name: 'inbound: oversized signed body',
      path,
      ...signed(JSON.stringify({ id: `evt_${tag}`, type: 'x', pad: 'x'.repeat(70 * 1024) })),
      status: 413,
    },
    { name: 'inbound: signed invalid JSON', path, ...signed('{"id": "evt_bad", "type":'), status: 400 },
    { name: 'inbound: wrong secret', path, ...signed(valid, 'whsec_not-the-secret'), status: 401 },
    {
      name: 'inbound: tampered body',
      path,
      headers: signed(valid).headers,
      body: Buffer.from(`${valid} `),
      status: 401,
    },
    {
      name: 'inbound: unknown source',
      path: '/v1/inbound/00000000-0000-4000-8000-000000000000',
      ...signed(valid),
      status: 404,
    },
    { name: 'inbound: header bomb', path, headers: bomb, body: signed(valid).body, status: 431, bare: true },
  ];
}

export interface IngestResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** POST /v1/events (or `target`) with exactly these headers and bytes (no client-side fixing up). */
export async function ingestHttp(
  baseUrl: string,
  apiKey: string,
  headers: Record<string, string>,
  body?: Buffer,
  target: Pick<HttpTarget, 'method' | 'path'> = { method: 'POST', path: '/v1/events' },
): Promise<IngestResponse> {
  const res = await request(`${baseUrl}${target.path}`, {
    method: target.method,
    headers: { authorization: `Bearer ${apiKey}`, ...headers },
    body,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  return { status: res.statusCode, headers: flatHeaders(res.headers), text: await res.body.text() };
}
