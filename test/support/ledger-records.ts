/** Ledger records as the processors make them, for tests of the ledger store and writer. */
import { randomUUID } from 'node:crypto';
import type { LedgerDelivery, LedgerEvent } from '../../pipeline/shared/ledger/ledger-record';

/** A delivery record (DELIVERED on the first try unless `o` says otherwise) for one subscription of `e`. */
export const aDelivery = (
  e: Pick<LedgerEvent, 'eventId' | 'tenantId' | 'receivedAt'>,
  subscriptionId: string,
  atMs = Date.now(),
  o: Partial<LedgerDelivery> = {},
): LedgerDelivery => ({
  kind: 'delivery',
  at: new Date(atMs).toISOString(),
  eventId: e.eventId,
  tenantId: e.tenantId,
  subscriptionId,
  receivedAt: e.receivedAt,
  status: 'DELIVERED',
  reason: null,
  attempts: 1,
  lastStatusCode: 200,
  nextAttemptAt: null,
  ...o,
});

/** The outbox-processor's record of a first-try success: the outcome with the attempt that led to it inside. */
export const deliveredOutcome = (
  e: Pick<LedgerEvent, 'eventId' | 'tenantId' | 'receivedAt'>,
  subscriptionId: string,
  atMs = Date.now(),
): LedgerDelivery =>
  aDelivery(e, subscriptionId, atMs, {
    tries: [
      {
        at: new Date(atMs - 1).toISOString(),
        attemptId: randomUUID(),
        source: 'OUTBOX',
        attempt: 1,
        durationMs: 3,
        statusCode: 200,
        errorCode: null,
        responseSnippet: null,
      },
    ],
  });
