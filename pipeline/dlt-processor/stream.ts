/**
 * The real-time stream's pure parts (issue 18, `GET /v1/stream`): the query (filters), the resume cursor, and which
 * records a connection sees.
 *
 * The cursor (`streamid` on every frame, `lastEventId` to resume) is the connection's position in every partition
 * it reads: the next offset of each, base64url JSON. Opaque to clients; Kafka answers a resume within retention.
 * It is not the CloudEvent id: the outbox holds one record per matching subscription, so an id is not a position.
 */
import { z } from 'zod';
import type { KafkaHeaders } from '../shared/cloudevents/envelope';
import { EXT, fromKafkaBinary, toStructuredJson } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import { FACT_HEADERS } from '../shared/facts/fact';
import { HUB_HEADERS } from '../shared/topics';

const list = z
  .string()
  .max(2000)
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const streamQuery = z.object({
  /** Operator keys only: another tenant (tenant keys always stream their own). Unset for an operator = all. */
  tenantId: z.string().min(1).max(200).optional(),
  /** `events` (the customer-facing events: the outbox topics) or `facts` (the hub's facts; operator keys only). */
  source: z.enum(['events', 'facts']).default('events'),
  /** CloudEvent types, comma-separated (exact). */
  type: list.optional(),
  subscriptionId: z.string().min(1).max(200).optional(),
  sourceService: z.string().min(1).max(200).optional(),
  resourceType: z.string().min(1).max(200).optional(),
  operationType: z.string().min(1).max(200).optional(),
  /** The `streamid` of the last frame received: the stream resumes right after it. */
  lastEventId: z.string().min(1).max(8192).optional(),
});
export type StreamQuery = z.infer<typeof streamQuery>;

/** Next offset to read, per topic and partition. */
export type Cursor = Record<string, Record<number, string>>;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** The cursor of a `streamid`, or undefined when it is not one this API handed out for these topics. */
export function decodeCursor(s: string, topics: readonly string[]): Cursor | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const out: Cursor = {};
    for (const [topic, parts] of Object.entries(parsed)) {
      if (!topics.includes(topic) || typeof parts !== 'object' || parts === null) return undefined;
      out[topic] = {};
      for (const [p, o] of Object.entries(parts)) {
        if (!/^\d{1,6}$/.test(p) || typeof o !== 'string' || !/^\d{1,19}$/.test(o)) return undefined;
        out[topic]![Number(p)] = o;
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}

export interface StreamRecord {
  topic: string;
  partition: number;
  offset: string;
  headers: KafkaHeaders | undefined;
  value: Buffer | null;
}

export interface StreamFilter extends Omit<StreamQuery, 'lastEventId' | 'tenantId'> {
  /** undefined = every tenant (operator keys only). */
  tenantId: string | undefined;
}

/**
 * The frame of a record for this filter (CloudEvents structured JSON with `streamid` and, for events,
 * `subscriptionid`), or undefined when the connection does not see it. `streamid` is filled in by the caller.
 */
export function frameOf(r: StreamRecord, f: StreamFilter): Record<string, unknown> | undefined {
  if (f.source === 'facts') {
    const tenant = headerString(r.headers?.[FACT_HEADERS.tenantId] as never);
    if (f.tenantId !== undefined && tenant !== f.tenantId) return undefined;
    const type = headerString(r.headers?.[FACT_HEADERS.eventType] as never);
    if (f.type && !f.type.includes(type ?? '')) return undefined;
    try {
      return JSON.parse(r.value?.toString('utf8') ?? '') as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  const tenant = headerString(r.headers?.[HUB_HEADERS.tenantId] as never);
  if (f.tenantId !== undefined && tenant !== f.tenantId) return undefined;
  const subscriptionId = headerString(r.headers?.[HUB_HEADERS.subscriptionId] as never);
  if (f.subscriptionId && subscriptionId !== f.subscriptionId) return undefined;
  const decoded = fromKafkaBinary(r.headers, r.value);
  if (!decoded.ok) return undefined;
  const e = decoded.event;
  if (f.type && !f.type.includes(e.type)) return undefined;
  if (f.sourceService && e.extensions[EXT.sourceService] !== f.sourceService) return undefined;
  if (f.resourceType && e.extensions[EXT.resourceType] !== f.resourceType) return undefined;
  if (f.operationType && e.extensions[EXT.operationType] !== f.operationType) return undefined;
  try {
    const frame = JSON.parse(toStructuredJson(e)) as Record<string, unknown>;
    if (subscriptionId) frame.subscriptionid = subscriptionId;
    return frame;
  } catch {
    return undefined; // data that claims JSON and is not: the subscriber gets it, the stream skips it
  }
}
