/**
 * The hub's CloudEvent envelope and its Kafka binary-mode codec (CloudEvents Kafka protocol binding 1.0).
 *
 * Outbox and DLT records carry the event in binary mode: attributes as `ce_<name>` headers,
 * `datacontenttype` as `content-type`, the data as the record value, untouched bytes. The data is never
 * re-parsed on the way to the subscriber: the bytes the producer sent are the bytes the subscriber gets.
 */
import { headerString } from './header-value';

/** Required context attributes plus hub extensions; extension names are lower-case alphanumerics. */
export interface HubCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  /** Extensions: tenantid, traceparent, sourceservice, resourcetype, operationtype, correlationid, ... */
  extensions: Record<string, string>;
  /** The data bytes exactly as received (usually JSON). Empty buffer = no data. */
  data: Buffer;
}

/** Extension names the hub relies on. */
export const EXT = {
  tenant: 'tenantid',
  traceparent: 'traceparent',
  sourceService: 'sourceservice',
  resourceType: 'resourcetype',
  operationType: 'operationtype',
  correlationId: 'correlationid',
} as const;

const CORE = ['specversion', 'id', 'source', 'type', 'time', 'subject', 'dataschema'] as const;

export type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** Headers + value for a binary-mode Kafka record. `extraHeaders` (hub-*) are added as-is. */
export function toKafkaBinary(
  event: HubCloudEvent,
  extraHeaders: Record<string, string> = {},
): { headers: Record<string, string>; value: Buffer } {
  const headers: Record<string, string> = {};
  for (const name of CORE) {
    const v = event[name];
    if (v !== undefined) headers[`ce_${name}`] = v;
  }
  if (event.datacontenttype) headers['content-type'] = event.datacontenttype;
  for (const [k, v] of Object.entries(event.extensions)) headers[`ce_${k}`] = v;
  Object.assign(headers, extraHeaders);
  return { headers, value: event.data };
}

/**
 * Reads a binary-mode record back. Returns an error message instead of throwing when a required attribute
 * is missing (the caller quarantines or dead-letters with that reason).
 */
export function fromKafkaBinary(
  headers: KafkaHeaders | undefined,
  value: Buffer | null,
): { ok: true; event: HubCloudEvent } | { ok: false; reason: string } {
  const h = headers ?? {};
  const extensions: Record<string, string> = {};
  const core: Record<string, string> = {};
  for (const [name, raw] of Object.entries(h)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('ce_')) continue;
    const attr = lower.slice(3);
    const v = headerString(raw);
    if (v === undefined) continue;
    if ((CORE as readonly string[]).includes(attr)) core[attr] = v;
    else extensions[attr] = v;
  }
  for (const required of ['specversion', 'id', 'source', 'type'] as const) {
    if (!core[required])
      return { ok: false, reason: `missing CloudEvent attribute ${required} (header ce_${required})` };
  }
  if (core.specversion !== '1.0') return { ok: false, reason: `unsupported specversion "${core.specversion}"` };
  const contentType = headerString(h['content-type']) ?? headerString(h['Content-Type']);
  return {
    ok: true,
    event: {
      specversion: '1.0',
      id: core.id!,
      source: core.source!,
      type: core.type!,
      time: core.time,
      subject: core.subject,
      dataschema: core.dataschema,
      datacontenttype: contentType,
      extensions,
      data: value ?? Buffer.alloc(0),
    },
  };
}

/** Structured-mode JSON (application/cloudevents+json) of an event, for subscribers that ask for it. */
export function toStructuredJson(event: HubCloudEvent): string {
  const out: Record<string, unknown> = {
    specversion: event.specversion,
    id: event.id,
    source: event.source,
    type: event.type,
  };
  for (const name of ['time', 'subject', 'dataschema', 'datacontenttype'] as const) {
    if (event[name] !== undefined) out[name] = event[name];
  }
  Object.assign(out, event.extensions);
  if (event.data.length > 0) {
    const ct = event.datacontenttype ?? 'application/json';
    if (/[/+]json(;|$)/i.test(ct)) {
      out.data = JSON.parse(event.data.toString('utf8'));
    } else {
      out.data_base64 = event.data.toString('base64');
    }
  }
  return JSON.stringify(out);
}
