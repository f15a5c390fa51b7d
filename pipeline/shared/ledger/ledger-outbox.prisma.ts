/**
 * The dlt-processor's ledger outbox on Postgres ("LedgerOutbox", migration 20261201050000_ledger_outbox): ledger
 * records committed with what they record, relayed to `<prefix>.ledger.v1` by dlt-processor/ledger-relay.kafka.ts.
 *
 *   writers:  FailureStorePrisma.recordAttempt (a parked delivery's step, in the step's transaction)
 *             outboxLedgerSink.emit (a ledger replay, which has no row of its own: one INSERT)
 *   relay:    pending? (SELECT EXISTS, the idle poll)
 *             BEGIN
 *               SELECT … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED    several instances relay disjoint rows
 *               publish(encoded records)                               produce, acks = -1 (the caller's)
 *               DELETE … WHERE id = ANY(ids)
 *             COMMIT
 *
 * At least once: a publish that fails, or a process killed between the produce and the COMMIT, leaves the rows, and
 * the next take produces them again. The ledger writer is idempotent (an attempt is keyed by its `attemptId`, made
 * once when the step was recorded; a delivery state by its `at`), so a record produced twice is written once.
 * Order does not matter: the writer orders a delivery's states by their `at`, not by the topic.
 */
import type { PrismaClient } from '../../../prisma/client';
import type { LedgerOutbox, LedgerSink } from './ledger';
import { encodeLedgerRecord, type LedgerRecord } from './ledger-record';

/** How long one relay transaction may stay open (the produce inside it included) before Postgres' side gives up. */
const RELAY_TX_TIMEOUT_MS = 60_000;

export class LedgerOutboxPrisma implements LedgerOutbox {
  constructor(private readonly prisma: PrismaClient) {}

  async pending(): Promise<boolean> {
    const [row] = await this.prisma.$queryRaw<{ any: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM "LedgerOutbox") AS any`;
    return row?.any === true;
  }

  relay(limit: number, publish: (encoded: Buffer[]) => Promise<void>): Promise<number> {
    return this.prisma.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<{ id: string; records: string }[]>`
          SELECT "id"::text AS id, "records" FROM "LedgerOutbox"
          ORDER BY "id" LIMIT ${limit}
          FOR UPDATE SKIP LOCKED`;
        if (rows.length === 0) return 0;
        // Each row is a JSON array of records as the processor encoded it; the writer validates every record.
        await publish(rows.flatMap((r) => (JSON.parse(r.records) as LedgerRecord[]).map(encodeLedgerRecord)));
        await tx.$executeRaw`DELETE FROM "LedgerOutbox" WHERE "id" = ANY(${rows.map((r) => r.id)}::bigint[])`;
        return rows.length;
      },
      { maxWait: 10_000, timeout: RELAY_TX_TIMEOUT_MS },
    );
  }

  /** Appends records in a transaction of their own (for records that belong to no parked row: ledger replays). */
  async append(records: LedgerRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.prisma.$executeRaw`INSERT INTO "LedgerOutbox" ("records") VALUES (${JSON.stringify(records)})`;
  }
}

/**
 * A LedgerSink on the outbox: `emit` resolves once the records are committed to Postgres (they reach the topic
 * through the relay, woken by `onAppended`).
 */
export function outboxLedgerSink(outbox: LedgerOutboxPrisma, onAppended?: () => void): LedgerSink {
  return {
    async emit(records) {
      await outbox.append(records);
      if (records.length > 0) onAppended?.();
    },
  };
}
