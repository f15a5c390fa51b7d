/**
 * Normalises a verified inbound webhook into the hub's CloudEvent (pure):
 *
 *   id          `inb-` + 32 hex of SHA-256(source id, vendor delivery id): the same vendor delivery always has the
 *               same id (the subscriber's dedupe key downstream); a source without a delivery id gets a UUIDv7
 *   source      `//<sourceService>/inbound/<source id>` (the vendor, and which registration it came through)
 *   type        the mapped event type (a header such as X-GitHub-Event, or a JSON pointer such as /type)
 *   data        the vendor body, byte for byte, with the request's content type
 *   extensions  tenantid (the source's tenant), sourceservice, resourcetype, operationtype (the mapping),
 *               traceparent (derived from the id), inboundsource (source id), inbounddelivery (vendor delivery id)
 *
 * The result passes the same `validateEvent` rules as every other ingest path, so what is produced is never
 * quarantined by the ingest consumer for a shape problem.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { EXT, type HubCloudEvent } from '../shared/cloudevents/envelope';
import type { FieldError } from '../shared/http/problem';
import { uuidv7 } from '../shared/ids';
import {
  type DedupeRef,
  type InboundSourceRecord,
  resolveJsonPointer,
  type ValueRef,
} from '../shared/inbound/inbound-source';
import { validateEvent } from './decode-input';
import { headerValue } from './inbound-verify';
import { deriveTraceparent } from './traceparent';

export const INBOUND_EXT = { source: 'inboundsource', delivery: 'inbounddelivery' } as const;

const MAX_DELIVERY_ID = 256;

export type BuildResult =
  | { ok: true; event: HubCloudEvent; deliveryId: string | undefined }
  | { ok: false; detail: string; errors: FieldError[] };

/** The deterministic event id of a vendor delivery through a source. */
export function inboundEventId(sourceId: string, deliveryId: string): string {
  return `inb-${createHash('sha256').update(`${sourceId}\n${deliveryId}`, 'utf8').digest('hex').slice(0, 32)}`;
}

/** Parses the body as JSON once, and only when a pointer needs it. */
function lazyJson(body: Buffer): () => { ok: true; doc: unknown } | { ok: false } {
  let parsed: { ok: true; doc: unknown } | { ok: false } | undefined;
  return () => {
    if (!parsed) {
      try {
        parsed = { ok: true, doc: JSON.parse(body.toString('utf8')) };
      } catch {
        parsed = { ok: false };
      }
    }
    return parsed;
  };
}

type Resolved = { ok: true; value: string } | { ok: false; message: string };

function resolve(
  ref: Exclude<ValueRef | DedupeRef, null>,
  headers: IncomingHttpHeaders,
  json: ReturnType<typeof lazyJson>,
): Resolved {
  if ('value' in ref) return { ok: true, value: ref.value };
  if ('header' in ref) {
    const v = headerValue(headers, ref.header)?.trim();
    return v ? { ok: true, value: v } : { ok: false, message: `missing header ${ref.header}` };
  }
  const parsed = json();
  if (!parsed.ok) return { ok: false, message: `the body is not JSON, so ${ref.jsonPointer} cannot be read` };
  const v = resolveJsonPointer(parsed.doc, ref.jsonPointer);
  if (typeof v === 'string' && v.length > 0) return { ok: true, value: v };
  if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: String(v) };
  return { ok: false, message: `no string or number at ${ref.jsonPointer} in the body` };
}

export function buildInboundEvent(
  source: InboundSourceRecord,
  req: { headers: IncomingHttpHeaders; body: Buffer },
  now: Date,
): BuildResult {
  const json = lazyJson(req.body);
  const errors: FieldError[] = [];
  const take = (path: string, ref: Exclude<ValueRef | DedupeRef, null>): string => {
    const r = resolve(ref, req.headers, json);
    if (r.ok) return r.value;
    errors.push({ in: 'body', path, message: r.message });
    return '';
  };
  const deliveryId = source.dedupe ? take('dedupe', source.dedupe) : undefined;
  if (deliveryId !== undefined && deliveryId.length > MAX_DELIVERY_ID) {
    errors.push({ in: 'body', path: 'dedupe', message: `the delivery id is longer than ${MAX_DELIVERY_ID}` });
  }
  const type = take('mapping.eventType', source.mapping.eventType);
  const sourceService = take('mapping.sourceService', source.mapping.sourceService);
  const resourceType = take('mapping.resourceType', source.mapping.resourceType);
  const operationType = take('mapping.operationType', source.mapping.operationType);
  if (errors.length > 0) {
    return {
      ok: false,
      detail: `the request does not carry what inbound source ${source.id} maps: ${errors.map((e) => e.message).join('; ')}`,
      errors,
    };
  }
  const id = deliveryId ? inboundEventId(source.id, deliveryId) : uuidv7();
  const event: HubCloudEvent = {
    specversion: '1.0',
    id,
    source: `//${sourceService}/inbound/${source.id}`,
    type,
    time: now.toISOString(),
    datacontenttype: headerValue(req.headers, 'content-type') ?? 'application/octet-stream',
    extensions: {
      [EXT.tenant]: source.tenantId,
      [EXT.sourceService]: sourceService,
      [EXT.resourceType]: resourceType,
      [EXT.operationType]: operationType,
      [EXT.traceparent]: deriveTraceparent(id),
      [INBOUND_EXT.source]: source.id,
      ...(deliveryId ? { [INBOUND_EXT.delivery]: deliveryId } : {}),
    },
    data: req.body,
  };
  const invalid = validateEvent(event);
  if (invalid) {
    return {
      ok: false,
      detail: `the mapped event is not valid: ${invalid.reason} (${invalid.code})`,
      errors: [{ in: 'body', path: 'mapping', message: invalid.reason }],
    };
  }
  return { ok: true, event, deliveryId };
}
