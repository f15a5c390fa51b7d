/**
 * The delivery ledger's records of a parked delivery (a FailedEvent row) changing state: its attempt, if a request
 * went out, and the delivery's new state. Pure; used by the scheduler for each step (written by `recordAttempt` in
 * the step's transaction) and by the store for the state changes it makes in bulk (a held subscription released or
 * deleted, a lane head released by an operator), so the ledger's status follows every change of the row.
 */
import { randomUUID } from 'node:crypto';
import type { DeliveryResult } from '../delivery/deliver';
import { safeSnippet } from '../delivery/snippet';
import type { LedgerDeliveryStatus, LedgerRecord } from '../ledger/ledger-record';
import { HUB_HEADERS } from '../topics';
import type { FailureStatus, StoredFailure } from './failure-store';

export const LEDGER_STATUS: Record<FailureStatus, LedgerDeliveryStatus> = {
  PENDING: 'RETRYING',
  RETRYING: 'RETRYING',
  HELD: 'HELD',
  DELIVERED: 'DELIVERED',
  REPLAYED: 'DELIVERED',
  FAILED: 'FAILED',
  SKIPPED: 'SKIPPED',
};

/** The ledger's records of one parked delivery's step: its attempt (if a request went out) and its new state. */
export function parkedLedgerRecords(
  f: Pick<StoredFailure, 'eventId' | 'tenantId' | 'subscriptionId' | 'ceHeaders' | 'firstFailedAt'>,
  step: {
    at: Date;
    source?: 'SCHEDULED' | 'REPLAY';
    attempt?: number;
    /** The request's id, as its DeliveryAttempt row has it (one id for the row and the ledger). */
    attemptId?: string;
    result?: Pick<DeliveryResult, 'durationMs' | 'status' | 'failure' | 'responseSnippet'>;
    status: FailureStatus;
    reason: string | null;
    nextAttemptAt: Date | null;
  },
): LedgerRecord[] {
  const receivedAt = f.ceHeaders[HUB_HEADERS.receivedAt] ?? f.firstFailedAt.toISOString();
  const base = { eventId: f.eventId, tenantId: f.tenantId, subscriptionId: f.subscriptionId, receivedAt };
  const traceId = f.ceHeaders.ce_traceparent?.split('-')[1];
  const out: LedgerRecord[] = [];
  if (step.result && step.source)
    out.push({
      kind: 'attempt',
      at: step.at.toISOString(),
      attemptId: step.attemptId ?? randomUUID(),
      ...base,
      source: step.source,
      attempt: step.attempt ?? 0,
      durationMs: Math.max(0, Math.round(step.result.durationMs)),
      statusCode: step.result.status ?? null,
      errorCode: step.result.failure?.code ?? null,
      responseSnippet: safeSnippet(step.result.responseSnippet),
    });
  out.push({
    kind: 'delivery',
    at: new Date(step.at.getTime() + 1).toISOString(),
    ...base,
    status: LEDGER_STATUS[step.status],
    reason: step.reason,
    ...(traceId ? { traceId } : {}),
    attempts: out.length > 0 ? 1 : 0,
    lastStatusCode: step.result?.status ?? null,
    nextAttemptAt: step.nextAttemptAt?.toISOString() ?? null,
  });
  return out;
}
