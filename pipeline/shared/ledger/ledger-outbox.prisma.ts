/**
 * The dlt-processor's ledger outbox on Postgres ("LedgerOutbox", migration 20261201050000_ledger_outbox): ledger
 * records committed with what they record, relayed to `<prefix>.ledger.v1` by dlt-processor/ledger-relay.kafka.ts.
 *
 *   writers:  FailureStorePrisma.recordAttempt (a parked delivery's step, in the step's transaction)
 *             outboxLedgerSink.emit (a ledger replay, which has no row of its own: one INSERT)
 *   relay:    pending? (SELECT EXISTS, the idle poll)
 *             BEGIN
 *               SELECT id, bytes … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED   several instances relay disjoint rows
 *               the oldest of them up to maxBytes (at least one) ─ SELECT their records
 *               a row that does not parse ─▶ "rejectedReason" set: left aside, never blocks the rows behind it
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
import { errorMessage } from '../errors';
import { groupByBytes } from '../group-by-bytes';
import type { LedgerOutbox, LedgerSink, RelayTake } from './ledger';
import { encodeLedgerRecord, type LedgerRecord } from './ledger-record';

/** How long one relay transaction may stay open (the produce inside it included) before Postgres' side gives up. */
const RELAY_TX_TIMEOUT_MS = 60_000;
/**
 * Bytes of stored records one take reads and produces (a row of a bulk state change holds up to 500 records): the
 * take, its produce and its transaction stay small whatever the rows hold.
 */
export const RELAY_TAKE_BYTES = 4 * 1024 * 1024;

/** A row's records, or why they cannot be read (the row is then set aside). */
function parseRow(records: string): Buffer[] | { reason: string } {
  try {
    const parsed: unknown = JSON.parse(records);
    if (!Array.isArray(parsed)) return { reason: `records is not a JSON array (${typeof parsed})` };
    return (parsed as LedgerRecord[]).map(encodeLedgerRecord);
  } catch (err) {
    return { reason: `records is not JSON: ${errorMessage(err)}` };
  }
}

export class LedgerOutboxPrisma implements LedgerOutbox {
  constructor(private readonly prisma: PrismaClient) {}

  async pending(): Promise<boolean> {
    const [row] = await this.prisma.$queryRaw<{ any: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM "LedgerOutbox" WHERE "rejectedReason" IS NULL) AS any`;
    return row?.any === true;
  }

  relay(limit: number, publish: (encoded: Buffer[]) => Promise<void>, maxBytes = RELAY_TAKE_BYTES): Promise<RelayTake> {
    return this.prisma.$transaction(
      async (tx) => {
        const heads = await tx.$queryRaw<{ id: string; bytes: number }[]>`
          SELECT "id"::text AS id, octet_length("records")::int AS bytes FROM "LedgerOutbox"
          WHERE "rejectedReason" IS NULL
          ORDER BY "LedgerOutbox"."id" LIMIT ${limit}
          FOR UPDATE SKIP LOCKED`;
        if (heads.length === 0) return { rows: 0, rejected: [], more: false };
        // The rows not taken stay locked until the commit, then the next take has them. (ORDER BY names the table's
        // column: a bare "id" would be the text alias, ordering 1, 10, 2 … and no index.)
        const ids = (groupByBytes(heads, (h) => h.bytes, maxBytes)[0] ?? []).map((h) => h.id);
        const rows = await tx.$queryRaw<{ id: string; records: string }[]>`
          SELECT "id"::text AS id, "records" FROM "LedgerOutbox"
          WHERE "id" = ANY(${ids}::bigint[]) ORDER BY "LedgerOutbox"."id"`;
        const encoded: Buffer[] = [];
        const rejected: RelayTake['rejected'] = [];
        for (const r of rows) {
          // Each row is a JSON array of records as the processor encoded it; the writer validates every record.
          const parsed = parseRow(r.records);
          if (Array.isArray(parsed)) encoded.push(...parsed);
          else rejected.push({ id: r.id, reason: parsed.reason });
        }
        if (encoded.length > 0) await publish(encoded);
        for (const r of rejected)
          await tx.$executeRaw`UPDATE "LedgerOutbox" SET "rejectedReason" = ${r.reason} WHERE "id" = ${r.id}::bigint`;
        const relayed = rows.filter((r) => !rejected.some((x) => x.id === r.id)).map((r) => r.id);
        await tx.$executeRaw`DELETE FROM "LedgerOutbox" WHERE "id" = ANY(${relayed}::bigint[])`;
        return { rows: rows.length, rejected, more: heads.length === limit || ids.length < heads.length };
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
