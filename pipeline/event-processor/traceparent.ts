/**
 * W3C trace context helpers (pure).
 *
 * When the hub has to make up a traceparent (raw events carry only a trace id, or nothing) it derives it from
 * the event id instead of drawing random bytes: a retried batch, a replay or the same event sent in another
 * ingest format then yields byte-identical outbox records, and the trace stays the same across all of them.
 */
import { createHash } from 'node:crypto';

export const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACE_ID = /^[0-9a-f]{32}$/i;

export function isValidTraceparent(value: string): boolean {
  const m = TRACEPARENT.exec(value);
  if (!m) return false;
  // version ff is forbidden; all-zero trace or parent ids are invalid.
  return m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!);
}

export function isTraceId(value: string): boolean {
  return TRACE_ID.test(value) && !/^0+$/.test(value);
}

const hex = (seed: string, length: number) => createHash('sha256').update(seed).digest('hex').slice(0, length);

/** `00-<trace id>-<parent id>-01`: the given 32-hex trace id (else one derived from the event id), a parent id
 * derived from the event id. */
export function deriveTraceparent(eventId: string, traceId?: string): string {
  const trace = traceId && isTraceId(traceId) ? traceId.toLowerCase() : hex(`trace:${eventId}`, 32);
  return `00-${trace}-${hex(`span:${eventId}`, 16)}-01`;
}
