/**
 * The DLT copy of an outbox record (pure): the record's own headers, unchanged, plus the failure headers the
 * dlt-processor stores (attempts, last status and error, first and last attempt time, source position) and how it
 * is to be stored (RETRY by default, HELD or SKIPPED).
 */
import { headerString } from '../shared/cloudevents/header-value';
import type { Failure } from '../shared/errors';
import { HUB_HEADERS } from '../shared/topics';
import type { OutboxRecord } from './decode-record';

export interface ParkInfo {
  failure: Failure;
  attempts: number;
  lastStatus?: number;
  firstAttemptAt?: Date;
  lastAttemptAt?: Date;
  /** RETRY (default), HELD or SKIPPED: how the dlt-processor stores it. */
  disposition?: 'RETRY' | 'HELD' | 'SKIPPED';
}

/** The outbox record's headers as strings (values unchanged), for the DLT copy. */
function copyHeaders(record: OutboxRecord): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(record.headers ?? {})) {
    const s = headerString(v);
    if (s !== undefined) headers[k] = s;
  }
  return headers;
}

export function dltHeaders(
  record: OutboxRecord,
  source: { topic: string; partition: number },
  f: ParkInfo,
  now = new Date(),
): Record<string, string> {
  const extra: Record<string, string> = {};
  if (f.disposition && f.disposition !== 'RETRY') extra[HUB_HEADERS.dltDisposition] = f.disposition;
  if (f.failure.retryAfterMs !== undefined) extra[HUB_HEADERS.dltRetryAfterMs] = String(f.failure.retryAfterMs);
  return {
    ...extra,
    ...copyHeaders(record),
    [HUB_HEADERS.dltAttempts]: String(f.attempts),
    [HUB_HEADERS.dltLastStatus]: f.lastStatus ? String(f.lastStatus) : '',
    [HUB_HEADERS.dltLastErrorCode]: f.failure.code,
    [HUB_HEADERS.dltLastError]: f.failure.message.slice(0, 500),
    [HUB_HEADERS.dltFirstAttemptAt]: (f.firstAttemptAt ?? now).toISOString(),
    [HUB_HEADERS.dltLastAttemptAt]: (f.lastAttemptAt ?? now).toISOString(),
    [HUB_HEADERS.sourceTopic]: source.topic,
    [HUB_HEADERS.sourcePartition]: String(source.partition),
    [HUB_HEADERS.sourceOffset]: record.offset,
  };
}
