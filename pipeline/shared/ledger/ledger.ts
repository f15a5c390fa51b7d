/**
 * Ports of the delivery ledger.
 *
 * - `LedgerSink`: where processors emit ledger records. The Kafka adapter (ledger-sink.kafka.ts) batches them to
 *   `<prefix>.ledger.v1` and resolves only once the broker has acknowledged them (acks=-1): a caller awaits `emit`
 *   before it commits the offset the records belong to, so nothing that happened goes unrecorded.
 * - The writer (dlt-processor) reads that topic and writes the rows; the operator API reads them.
 */
import type { LedgerRecord } from './ledger-record';

export interface LedgerSink {
  /** Resolves once every record is durably in the ledger topic (or rejects: the caller must not commit). */
  emit(records: LedgerRecord[]): Promise<void>;
}

/** In-memory sink for unit tests (records kept in order). */
export function memoryLedgerSink(): LedgerSink & { records: LedgerRecord[] } {
  const records: LedgerRecord[] = [];
  return {
    records,
    async emit(r) {
      records.push(...r);
    },
  };
}

/** A sink that records nothing (ledger turned off: LEDGER_ENABLED=false). */
export const noLedger: LedgerSink = { emit: async () => {} };
