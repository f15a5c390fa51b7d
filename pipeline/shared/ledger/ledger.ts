/**
 * Ports of the delivery ledger.
 *
 * - `LedgerSink`: where processors emit ledger records. The Kafka adapter (ledger-sink.kafka.ts) batches them to
 *   `<prefix>.ledger.v1` and resolves only once the broker has acknowledged them (acks=-1): a caller awaits `emit`
 *   before it commits the offset the records belong to, so nothing that happened goes unrecorded. The dlt-processor's
 *   sink is its ledger outbox instead (ledger-outbox.prisma.ts: durable in Postgres, relayed to the topic).
 * - `LedgerOutbox`: the dlt-processor's transactional outbox of ledger records ("LedgerOutbox"): a parked
 *   delivery's step writes its records in the step's own transaction (failure-store.prisma.ts), the relay
 *   (dlt-processor/ledger-relay.kafka.ts) produces them to the topic and deletes them.
 * - The writer (dlt-processor) reads that topic and writes the rows; the operator API reads them.
 */
import type { LedgerRecord } from './ledger-record';

export interface LedgerSink {
  /**
   * Resolves once every record is durable on its way to the ledger (acknowledged by the ledger topic, or committed
   * to the ledger outbox), or rejects: the caller must not commit.
   */
  emit(records: LedgerRecord[]): Promise<void>;
}

export interface LedgerOutbox {
  /** Whether any records wait (one cheap query: the relay's idle poll). */
  pending(): Promise<boolean>;
  /**
   * Takes up to `limit` of the oldest rows no other relay holds (SKIP LOCKED), as many as fit in `maxBytes` (at
   * least one), hands their records (each encoded, `encodeLedgerRecord`) to `publish`, and deletes the rows once it
   * resolves, all in one transaction: a publish that fails, or a process that dies before the commit, leaves them
   * for the next take (at least once). A row that cannot be read is set aside with its reason (`rejected`), never
   * taken again, and never blocks the rows behind it.
   */
  relay(limit: number, publish: (encoded: Buffer[]) => Promise<void>, maxBytes?: number): Promise<RelayTake>;
}

/** What one relay take did: rows taken (relayed or set aside), those set aside with their reason, more waiting? */
export interface RelayTake {
  rows: number;
  rejected: { id: string; reason: string }[];
  /** The take stopped at its row or byte limit: rows may wait behind it. */
  more: boolean;
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
