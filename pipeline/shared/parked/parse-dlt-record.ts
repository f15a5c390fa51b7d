/**
 * Turns one dead-letter record into the failure to persist (pure). A record that cannot be read is still
 * persisted — as FAILED with the reason — so nothing that reached the DLT is ever dropped.
 */
import { fromKafkaBinary, type KafkaHeaders } from '../cloudevents/envelope';
import { headerString } from '../cloudevents/header-value';
import { DOMAINS, HUB_HEADERS } from '../topics';

export interface NewFailure {
  eventId: string;
  subscriptionId: string;
  tenantId: string;
  domain: string;
  eventType: string | null;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  /** All record headers (CloudEvent attributes as ce_*, hub-* failure headers). */
  ceHeaders: Record<string, string>;
  body: Buffer;
  failureHeaders: Record<string, string>;
  /**
   * PENDING when it can be retried, FAILED when the record is malformed or the failure is permanent, HELD while its
   * subscription is paused, SKIPPED when the delivery gate refused it (never sent).
   */
  status: 'PENDING' | 'FAILED' | 'HELD' | 'SKIPPED';
  reason: string | null;
  attempts: number;
  lastStatusCode: number | null;
  lastErrorCode: string | null;
  firstFailedAt: Date;
  lastFailedAt: Date;
  /** The subscriber's Retry-After on the last in-process attempt. */
  retryAfterMs?: number;
  /** When the first scheduled attempt is due (see `scheduleFirstAttempt`); unset = at once. */
  nextAttemptAt?: Date | null;
  /** A record of an ordered subscription: its lane (subscriptionId, tenantId) is delivered in `laneSeq` order. */
  ordered?: boolean;
  laneSeq?: string | null;
}

/** Sets when a parked record's first scheduled attempt is due: its schedule's first step after the last failure. */
export function scheduleFirstAttempt(
  row: NewFailure,
  delay: (row: NewFailure) => number | undefined,
  now: Date,
): NewFailure {
  if (row.status !== 'PENDING' || row.nextAttemptAt !== undefined) return row;
  const d = delay(row);
  return { ...row, nextAttemptAt: new Date(Math.max(now.getTime(), row.lastFailedAt.getTime() + (d ?? 0))) };
}

/** Codes after which scheduled retries are pointless (an operator replay is still possible). */
const PERMANENT = /^DELIVERY\.(HTTP_4\d\d|REDIRECT|SSRF_BLOCKED|BAD_ENDPOINT|AUTH_SECRET|SIGNING_SECRET)$/;
const RETRY_ANYWAY = new Set(['DELIVERY.HTTP_408', 'DELIVERY.HTTP_429']);

/** Longest event/subscription/tenant id stored as is (the unique index on them has a per-entry size limit). */
const MAX_ID = 512;
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31);

const clean = (s: string) => (s.includes('\u0000') ? s.replaceAll('\u0000', '') : s);
const short = (s: string | undefined) => (s === undefined ? undefined : s.slice(0, MAX_ID));
function tooLong(eventId: string, subscriptionId: string, tenantId: string | undefined): string | undefined {
  for (const [name, v] of [
    ['event id', eventId],
    ['subscription id', subscriptionId],
    ['tenant id', tenantId],
  ] as const)
    if (v !== undefined && v.length > MAX_ID) return `malformed DLT record: ${name} longer than ${MAX_ID} characters`;
  return undefined;
}

export function parseDltRecord(
  topic: string,
  partition: number,
  message: { offset: string; key: Buffer | null; value: Buffer | null; headers?: KafkaHeaders },
  now: Date,
): NewFailure {
  // Postgres text/jsonb refuse NUL characters: strip them so a hostile header cannot wedge the partition.
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const s = headerString(v);
    if (s !== undefined) headers[clean(k)] = clean(s);
  }
  const failureHeaders = Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('hub-')));
  const domainFromTopic = DOMAINS.find((d) => topic.includes(`.dlt.${d}.`)) ?? 'organization';
  const date = (v: string | undefined) => {
    const t = v ? Date.parse(v) : Number.NaN;
    return Number.isNaN(t) || t < MIN_TIME || t > MAX_TIME ? now : new Date(t);
  };
  // Decoded from the cleaned headers: the stored row redelivers exactly what was read here.
  const decoded = fromKafkaBinary(headers, message.value);
  const subscriptionId = headers[HUB_HEADERS.subscriptionId];
  const errorCode = headers[HUB_HEADERS.dltLastErrorCode]?.slice(0, 128) || null;
  const statusHeader = Number(headers[HUB_HEADERS.dltLastStatus]);
  const base = {
    sourceTopic: topic,
    sourcePartition: partition,
    sourceOffset: message.offset,
    ceHeaders: headers,
    body: message.value ?? Buffer.alloc(0),
    failureHeaders,
    attempts: Number(headers[HUB_HEADERS.dltAttempts]) || 0,
    lastStatusCode: Number.isInteger(statusHeader) && statusHeader >= 100 && statusHeader <= 599 ? statusHeader : null,
    lastErrorCode: errorCode,
    firstFailedAt: date(headers[HUB_HEADERS.dltFirstAttemptAt]),
    lastFailedAt: date(headers[HUB_HEADERS.dltLastAttemptAt]),
    domain: (DOMAINS as readonly string[]).includes(headers[HUB_HEADERS.domain] ?? '')
      ? headers[HUB_HEADERS.domain]!
      : domainFromTopic,
  };
  const synthetic = `${topic}:${partition}:${message.offset}`;
  const keyTenant = message.key ? clean(message.key.toString('utf8')) : undefined;
  const problem = !decoded.ok
    ? `malformed DLT record: ${decoded.reason}`
    : !subscriptionId
      ? 'malformed DLT record: no hub-subscription-id header'
      : tooLong(decoded.event.id, subscriptionId, headers[HUB_HEADERS.tenantId]);
  if (!decoded.ok || !subscriptionId || problem) {
    const eventId = decoded.ok ? decoded.event.id : headers.ce_id;
    return {
      ...base,
      // The unique key (eventId, subscriptionId) must stay short enough for its index; else a synthetic id.
      eventId: eventId && eventId.length <= MAX_ID ? eventId : synthetic,
      subscriptionId: subscriptionId && subscriptionId.length <= MAX_ID ? subscriptionId : `unknown:${synthetic}`,
      tenantId: short(headers[HUB_HEADERS.tenantId] ?? keyTenant) ?? 'unknown',
      eventType: short(headers.ce_type) ?? null,
      status: 'FAILED',
      reason: problem ?? 'malformed DLT record',
    };
  }
  const permanent = errorCode !== null && PERMANENT.test(errorCode) && !RETRY_ANYWAY.has(errorCode);
  const disposition = headers[HUB_HEADERS.dltDisposition];
  const retryAfter = headers[HUB_HEADERS.dltRetryAfterMs] ? Number(headers[HUB_HEADERS.dltRetryAfterMs]) : Number.NaN;
  const lastError = headers[HUB_HEADERS.dltLastError]?.slice(0, 500) || null;
  const parked = {
    eventId: decoded.event.id,
    subscriptionId,
    tenantId: short(headers[HUB_HEADERS.tenantId] ?? decoded.event.extensions.tenantid ?? keyTenant) ?? 'unknown',
    eventType: short(decoded.event.type) ?? null,
    ...(Number.isInteger(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter } : {}),
  };
  if (disposition === 'HELD' || disposition === 'SKIPPED')
    return {
      ...base,
      ...parked,
      status: disposition,
      reason: lastError ?? (disposition === 'HELD' ? 'subscription paused' : 'refused by the delivery gate'),
    };
  return {
    ...base,
    ...parked,
    status: permanent ? 'FAILED' : 'PENDING',
    reason: permanent
      ? `permanent failure ${errorCode}: no scheduled retry (replay after fixing the subscriber)`
      : null,
  };
}
