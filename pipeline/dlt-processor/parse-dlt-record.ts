/**
 * Turns one dead-letter record into the failure to persist (pure). A record that cannot be read is still
 * persisted — as FAILED with the reason — so nothing that reached the DLT is ever dropped.
 */
import { fromKafkaBinary, type KafkaHeaders } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import { DOMAINS, HUB_HEADERS } from '../shared/topics';

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
  /** PENDING when it can be retried, FAILED when the record is malformed or the failure is permanent. */
  status: 'PENDING' | 'FAILED';
  reason: string | null;
  attempts: number;
  lastStatusCode: number | null;
  lastErrorCode: string | null;
  firstFailedAt: Date;
  lastFailedAt: Date;
}

/** Codes after which scheduled retries are pointless (an operator replay is still possible). */
const PERMANENT = /^DELIVERY\.(HTTP_4\d\d|REDIRECT|SSRF_BLOCKED|BAD_ENDPOINT|AUTH_SECRET|SIGNING_SECRET)$/;
const RETRY_ANYWAY = new Set(['DELIVERY.HTTP_408', 'DELIVERY.HTTP_429']);

export function parseDltRecord(
  topic: string,
  partition: number,
  message: { offset: string; key: Buffer | null; value: Buffer | null; headers?: KafkaHeaders },
  now: Date,
): NewFailure {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const s = headerString(v);
    if (s !== undefined) headers[k] = s;
  }
  const failureHeaders = Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('hub-')));
  const domainFromTopic = DOMAINS.find((d) => topic.includes(`.dlt.${d}.`)) ?? 'organization';
  const date = (v: string | undefined) => {
    const t = v ? Date.parse(v) : Number.NaN;
    return Number.isNaN(t) ? now : new Date(t);
  };
  const decoded = fromKafkaBinary(message.headers, message.value);
  const subscriptionId = headers[HUB_HEADERS.subscriptionId];
  const errorCode = headers[HUB_HEADERS.dltLastErrorCode] || null;
  const statusHeader = Number(headers[HUB_HEADERS.dltLastStatus]);
  const base = {
    sourceTopic: topic,
    sourcePartition: partition,
    sourceOffset: message.offset,
    ceHeaders: headers,
    body: message.value ?? Buffer.alloc(0),
    failureHeaders,
    attempts: Number(headers[HUB_HEADERS.dltAttempts]) || 0,
    lastStatusCode: Number.isInteger(statusHeader) && statusHeader > 0 ? statusHeader : null,
    lastErrorCode: errorCode,
    firstFailedAt: date(headers[HUB_HEADERS.dltFirstAttemptAt]),
    lastFailedAt: date(headers[HUB_HEADERS.dltLastAttemptAt]),
    domain: headers[HUB_HEADERS.domain] ?? domainFromTopic,
  };
  const synthetic = `${topic}:${partition}:${message.offset}`;
  if (!decoded.ok || !subscriptionId) {
    return {
      ...base,
      eventId: (decoded.ok ? decoded.event.id : headers.ce_id) ?? synthetic,
      subscriptionId: subscriptionId ?? `unknown:${synthetic}`,
      tenantId: headers[HUB_HEADERS.tenantId] ?? message.key?.toString() ?? 'unknown',
      eventType: headers.ce_type ?? null,
      status: 'FAILED',
      reason: decoded.ok ? 'DLT record has no hub-subscription-id header' : `malformed DLT record: ${decoded.reason}`,
    };
  }
  const permanent = errorCode !== null && PERMANENT.test(errorCode) && !RETRY_ANYWAY.has(errorCode);
  return {
    ...base,
    eventId: decoded.event.id,
    subscriptionId,
    tenantId:
      headers[HUB_HEADERS.tenantId] ?? decoded.event.extensions.tenantid ?? message.key?.toString() ?? 'unknown',
    eventType: decoded.event.type,
    status: permanent ? 'FAILED' : 'PENDING',
    reason: permanent
      ? `permanent failure ${errorCode}: no scheduled retry (replay after fixing the subscriber)`
      : null,
  };
}
