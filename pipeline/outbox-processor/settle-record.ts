/**
 * Stage 4, settle: what follows a record's outcome, before its offset may advance.
 *
 *   ledger records (made now, emitted while the rest runs; awaited last: acks=-1)
 *   delivered ─▶ metrics (outcome, latency from the event), debug log
 *   skipped ───▶ DLT as SKIPPED + reason, warn
 *   held ──────▶ DLT as HELD (unless its ordered lane already parked it), info
 *   parkBehind ▶ (parked in Postgres already), debug
 *   deadLetter ▶ DLT (unless parked) for the durable retry schedule, warn
 *   malformed ─▶ DLT as OUTBOX.MALFORMED (no ledger: there is no delivery to record), warn
 *
 * The sinks are ports: the Kafka adapter passes its DLT produce and ledger emit, each retried while the broker is
 * away (the offset cannot advance without them).
 */
import { permanent, retriable } from '../shared/errors';
import type { LedgerRecord } from '../shared/ledger/ledger-record';
import type { Logger } from '../shared/logging/logger';
import type { OutboxRecord } from './decode-record';
import type { ParkInfo } from './dlt-record';
import type { OutboxItem } from './handler';
import { ledgerRecordsOf, type Outcome } from './ledger-records';
import { type OutboxMetrics, statusClass } from './metrics';

/** Where a record is in its topic. */
export interface RecordPosition {
  topic: string;
  partition: number;
  record: OutboxRecord;
}

export interface SettleDeps {
  /** Produces the DLT copy; resolves once it is durable. */
  toDlt: (at: RecordPosition, f: ParkInfo) => Promise<void>;
  /** Emits ledger records; resolves once they are durable. Undefined: no ledger. */
  emitLedger?: (records: LedgerRecord[]) => Promise<void>;
  metrics: Pick<OutboxMetrics, 'outcomes' | 'latencyFromEvent' | 'latencyFromDequeue' | 'stages'>;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
}

export interface Settled extends RecordPosition {
  item: OutboxItem;
  outcome: Outcome;
  /** Its ordered lane already parked it in Postgres: no DLT copy. */
  parked: boolean;
  /** When the lane park was decided (its ledger records must be older than any later outcome). */
  parkedAt?: Date;
  /** From dequeue to now. */
  ms: number;
}

export function createSettleStage(deps: SettleDeps) {
  const { toDlt, metrics, log } = deps;
  const httpStage = metrics.stages.labels('http');

  /** A record that could not be decoded: into the DLT with the reason, the partition moves on. */
  async function malformed(at: RecordPosition, reason: string): Promise<void> {
    await toDlt(at, { failure: permanent('OUTBOX.MALFORMED', reason), attempts: 0 });
    metrics.outcomes.inc({ outcome: 'deadLetter', status_class: 'none' });
    log.warn(
      { topic: at.topic, partition: at.partition, offset: at.record.offset, reason },
      'malformed outbox record sent to the DLT',
    );
  }

  async function settle(s: Settled): Promise<void> {
    const { topic, partition, record, item, outcome, parked, ms } = s;
    const { event, tenantId, subscriptionId } = item;
    const summary = { topic, partition, offset: record.offset, eventId: event.id, tenantId, subscriptionId, ms };
    if ('tries' in outcome) for (const t of outcome.tries ?? []) httpStage.observe(Math.max(0, t.durationMs) / 1000);
    // The ledger's records are made now (or when the lane park was decided), before the DLT produce: the
    // dlt-processor's later outcome for this delivery is then always the newer one.
    const ledgerWritten = deps.emitLedger?.(ledgerRecordsOf(item, record, outcome, s.parkedAt ?? new Date()));
    // Awaited last; a rejection (only at shutdown) is not left unhandled meanwhile if a DLT produce throws first.
    ledgerWritten?.catch(() => {});
    switch (outcome.type) {
      case 'delivered': {
        metrics.outcomes.inc({ outcome: 'delivered', status_class: statusClass(outcome.status) });
        const eventTime = event.time ? Date.parse(event.time) : Number.NaN;
        if (!Number.isNaN(eventTime)) metrics.latencyFromEvent.observe(Math.max(0, Date.now() - eventTime) / 1000);
        log.debug({ ...summary, attempts: outcome.attempts, status: outcome.status }, 'delivered');
        break;
      }
      case 'skipped':
        // Refused by the gate: never sent. Recorded as a SKIPPED row with the reason.
        await toDlt(s, { failure: permanent(outcome.code, outcome.reason), attempts: 0, disposition: 'SKIPPED' });
        metrics.outcomes.inc({ outcome: 'skipped', status_class: 'none' });
        log.warn({ ...summary, code: outcome.code, reason: outcome.reason }, 'refused by the delivery gate; not sent');
        break;
      case 'held':
        if (!parked)
          await toDlt(s, { failure: retriable('DELIVERY.HELD', outcome.reason), attempts: 0, disposition: 'HELD' });
        metrics.outcomes.inc({ outcome: 'held', status_class: 'none' });
        log.info({ ...summary, reason: outcome.reason }, 'held until the subscription is resumed');
        break;
      case 'parkBehind':
        metrics.outcomes.inc({ outcome: outcome.held ? 'held' : 'parked', status_class: 'none' });
        log.debug(summary, 'parked behind the undelivered head of its ordered lane');
        break;
      case 'deadLetter':
        if (!parked) await toDlt(s, outcome);
        metrics.outcomes.inc({ outcome: 'deadLetter', status_class: statusClass(outcome.lastStatus) });
        log.warn(
          { ...summary, attempts: outcome.attempts, status: outcome.lastStatus, errorCode: outcome.failure.code },
          'delivery failed; parked in the durable retry schedule',
        );
        break;
    }
    // The offset completes only once the ledger has the records (acks=-1): nothing that happened goes unrecorded.
    await ledgerWritten;
    metrics.latencyFromDequeue.observe(ms / 1000);
  }

  return { settle, malformed };
}
