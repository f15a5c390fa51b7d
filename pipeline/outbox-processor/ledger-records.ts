/**
 * The delivery ledger's record of one outbox record's outcome (pure): the delivery's new state, carrying one entry per
 * HTTP attempt made here (`tries`, stored as attempt rows). The state is the hub's view at this moment; the dlt-processor's later outcome of a
 * parked delivery (a newer `at`) supersedes it.
 *
 * | outcome                          | delivery status |
 * |----------------------------------|-----------------|
 * | delivered                        | DELIVERED       |
 * | refused by the gate              | SKIPPED         |
 * | held (paused)                    | HELD            |
 * | parked behind its ordered lane   | RETRYING / HELD |
 * | failed, retriable (parked)       | RETRYING        |
 * | failed, permanent                | FAILED          |
 */
import { randomUUID } from 'node:crypto';
import { headerString } from '../shared/cloudevents/header-value';
import { safeSnippet } from '../shared/delivery/snippet';
import type { LedgerDelivery, LedgerDeliveryStatus, LedgerRecord } from '../shared/ledger/ledger-record';
import { HUB_HEADERS } from '../shared/topics';
import type { OutboxRecord } from './decode-record';
import type { DeliveryOutcome, OutboxItem } from './handler';

/** What the outbox adapter decided for a record: the handler's outcome, or parked behind its ordered lane's head. */
export type Outcome = DeliveryOutcome | { type: 'parkBehind'; held: boolean };

function statusOf(outcome: Outcome): { status: LedgerDeliveryStatus; reason: string | null } {
  switch (outcome.type) {
    case 'delivered':
      return { status: 'DELIVERED', reason: null };
    case 'skipped':
      return { status: 'SKIPPED', reason: `${outcome.code}: ${outcome.reason}` };
    case 'held':
      return { status: 'HELD', reason: outcome.reason };
    case 'parkBehind':
      return {
        status: outcome.held ? 'HELD' : 'RETRYING',
        reason: 'waiting behind an earlier undelivered event of its ordered lane',
      };
    case 'deadLetter':
      return {
        status: outcome.failure.kind === 'permanent' ? 'FAILED' : 'RETRYING',
        reason: `${outcome.failure.code}: ${outcome.failure.message}`.slice(0, 500),
      };
  }
}

/** The trace id of a W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`), or undefined. */
const traceIdOf = (traceparent: string | undefined): string | undefined => {
  if (traceparent === undefined || traceparent.charCodeAt(2) !== 45 /* - */) return undefined;
  const end = traceparent.indexOf('-', 3);
  return end > 3 ? traceparent.slice(3, end) : undefined;
};

/**
 * One record per delivery, its attempts inside it (the writer stores them as attempt rows). Built as one object
 * literal of a fixed shape (optional fields undefined, which JSON leaves out): on the delivery path of every record,
 * and JSON.stringify's fast path takes such objects; spreads made slow dictionary objects of them
 * (BENCHMARKS.md, 2026-12-02, 09:15 section).
 */
export function ledgerRecordsOf(
  item: OutboxItem,
  message: Pick<OutboxRecord, 'headers'>,
  outcome: Outcome,
  at: Date,
): LedgerRecord[] {
  const receivedAt = headerString(message.headers?.[HUB_HEADERS.receivedAt]) ?? item.event.time ?? at.toISOString();
  const tries = 'tries' in outcome ? (outcome.tries ?? []) : [];
  const { status, reason } = statusOf(outcome);
  const record: LedgerDelivery = {
    kind: 'delivery',
    at: at.toISOString(),
    eventId: item.event.id,
    tenantId: item.tenantId,
    subscriptionId: item.subscriptionId,
    receivedAt,
    status,
    reason,
    traceId: traceIdOf(item.event.extensions.traceparent),
    attempts: tries.length,
    lastStatusCode: tries.at(-1)?.status ?? null,
    nextAttemptAt: null,
    tries:
      tries.length > 0
        ? tries.map((t, i) => ({
            at: t.at.toISOString(),
            attemptId: randomUUID(),
            source: 'OUTBOX' as const,
            attempt: i + 1,
            durationMs: Math.max(0, Math.round(t.durationMs)),
            statusCode: t.status ?? null,
            errorCode: t.errorCode ?? null,
            responseSnippet: safeSnippet(t.responseSnippet),
          }))
        : undefined,
  };
  return [record];
}
