/**
 * The ledger writer's store on Postgres (raw SQL through Prisma): one transaction per batch, one multi-row statement
 * per table and chunk (unnest: one array parameter per column), idempotent under redelivery.
 *
 *   ensureDays (the batch's days' partitions, cached) ─▶ BEGIN
 *     LedgerEvent     INSERT … ON CONFLICT ("eventId", "receivedAt") DO NOTHING
 *     LedgerDelivery  PENDING per (event, subscription) … DO NOTHING (a row made by a delivery record stays as it is)
 *     per chunk of delivery keys, one statement:
 *       LedgerAttempt   INSERT … ON CONFLICT ("attemptId", "receivedAt") DO NOTHING RETURNING the delivery key
 *       LedgerDelivery  upsert: "attempts" grows by the attempt rows just inserted (a redelivered attempt is not, so
 *                       it never counts twice); status / reason / lastStatusCode / nextAttemptAt only from a record
 *                       whose `at` is not older than the row's "updatedAt" (processes' records arrive out of order)
 *   COMMIT
 *
 * A PENDING row made from the event record is stamped with the event's "receivedAt", the earliest instant of the
 * delivery: any delivery record supersedes it.
 */
import { Prisma, type PrismaClient } from '../../../prisma/client';
import { RecordRefusedError } from '../parked/failure-store';
import { sqlStateOf } from '../parked/failure-store.prisma';
import type { LedgerAttempt, LedgerDelivery, LedgerRecord } from './ledger-record';
import {
  createPartitionSql,
  dayOfPartition,
  daysOf,
  LEDGER_TABLES,
  type LedgerTable,
  type LedgerWriteCounts,
  type LedgerWriterStore,
  type PreparedOutcome,
  partitionName,
  prepareBatch,
  utcDay,
} from './ledger-store';

/** Rows per statement. */
const CHUNK = 500;
/** Data exception (22), integrity constraint (23), program limit e.g. index row size (54): the data is at fault. */
const DATA_FAULT = /^(22|23|54)/;
/** check_violation: also what Postgres answers for a row no partition accepts (its day was dropped meanwhile). */
const NO_PARTITION = '23514';

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

export class LedgerWriterStorePrisma implements LedgerWriterStore {
  /** Days whose three partitions are known to exist. */
  private readonly days = new Set<string>();

  constructor(private readonly prisma: PrismaClient) {}

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }

  async ensureDays(days: string[]): Promise<void> {
    for (const day of days) {
      if (this.days.has(day)) continue;
      for (const table of LEDGER_TABLES) await this.createPartition(table, day);
      this.days.add(day);
    }
  }

  private async createPartition(table: LedgerTable, day: string): Promise<void> {
    try {
      await this.prisma.$executeRawUnsafe(createPartitionSql(table, day));
    } catch (err) {
      // Another writer created it between our IF NOT EXISTS check and the catalog insert: duplicate_table (42P07),
      // or a unique violation on the catalog (23505). Either way it is there now; anything else is a failure.
      const name = partitionName(table, day);
      const [row] = await this.prisma.$queryRaw<{ exists: boolean }[]>`
        SELECT to_regclass(${`"${name}"`}) IS NOT NULL AS exists`;
      if (!row?.exists) throw err;
    }
  }

  async dropPartitionsBefore(day: string | Date): Promise<string[]> {
    const cutoff = typeof day === 'string' ? utcDay(`${day}T00:00:00.000Z`) : utcDay(day);
    const parts = await this.prisma.$queryRaw<{ parent: string; child: string }[]>`
      SELECT p.relname AS parent, c.relname AS child
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE n.nspname = current_schema() AND p.relname = ANY(${[...LEDGER_TABLES]}::text[])`;
    const dropped = new Set<string>();
    for (const { parent, child } of parts) {
      const d = dayOfPartition(parent as LedgerTable, child);
      if (d === undefined || d >= cutoff) continue;
      this.days.delete(d);
      await this.prisma.$executeRawUnsafe(`DROP TABLE IF EXISTS "${partitionName(parent as LedgerTable, d)}"`);
      dropped.add(d);
    }
    return [...dropped].sort();
  }

  async write(records: LedgerRecord[]): Promise<LedgerWriteCounts> {
    if (records.length === 0) return { LedgerEvent: 0, LedgerDelivery: 0, LedgerAttempt: 0 };
    const days = daysOf(records);
    try {
      await this.ensureDays(days);
      return await this.writeRows(records);
    } catch (err) {
      if (sqlStateOf(err) === NO_PARTITION) {
        // A partition we knew of is gone (retention of another instance): make the days again, once.
        for (const d of days) this.days.delete(d);
        try {
          await this.ensureDays(days);
          return await this.writeRows(records);
        } catch (again) {
          throw refused(again);
        }
      }
      throw refused(err);
    }
  }

  private async writeRows(records: LedgerRecord[]): Promise<LedgerWriteCounts> {
    const b = prepareBatch(records);
    // Timestamps travel as ISO strings and become UTC `timestamp(3)` (`AT TIME ZONE 'UTC'`), as Prisma stores DateTime.
    const statements: Prisma.PrismaPromise<number>[] = [];
    const tables: LedgerTable[] = [];
    const outcomeStatements: Prisma.PrismaPromise<OutcomeCounts[]>[] = [];

    for (const rows of chunks(b.events)) {
      const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
      tables.push('LedgerEvent');
      statements.push(this.prisma.$executeRaw`
        INSERT INTO "LedgerEvent" ("eventId", "receivedAt", "tenantId", "type", "source", "subject", "match", "domain",
          "traceId", "fanOut", "ingestTopic", "ingestPartition", "ingestOffset", "payloadHeaders", "payloadBody")
        SELECT v.event_id, (v.received_at AT TIME ZONE 'UTC'), v.tenant_id, v.type, v.source, v.subject, v.match::jsonb,
          v.domain, v.trace_id, v.fan_out, v.ingest_topic, v.ingest_partition, v.ingest_offset, v.headers::jsonb,
          decode(v.body, 'base64')
        FROM unnest(${col((r) => r.eventId)}::text[], ${col((r) => r.receivedAt)}::timestamptz[],
          ${col((r) => r.tenantId)}::text[], ${col((r) => r.type)}::text[], ${col((r) => r.source)}::text[],
          ${col((r) => r.subject ?? null)}::text[], ${col((r) => JSON.stringify(r.match))}::text[],
          ${col((r) => r.domain)}::text[], ${col((r) => r.traceId ?? null)}::text[], ${col((r) => r.fanOut)}::int[],
          ${col((r) => r.ingest?.topic ?? null)}::text[], ${col((r) => r.ingest?.partition ?? null)}::int[],
          ${col((r) => r.ingest?.offset ?? null)}::text[], ${col((r) => JSON.stringify(r.payload.headers))}::text[],
          ${col((r) => r.payload.body)}::text[])
          AS v(event_id, received_at, tenant_id, type, source, subject, match, domain, trace_id, fan_out, ingest_topic,
            ingest_partition, ingest_offset, headers, body)
        ON CONFLICT ("eventId", "receivedAt") DO NOTHING`);
    }

    for (const rows of chunks(b.placeholders)) {
      const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
      tables.push('LedgerDelivery');
      statements.push(this.prisma.$executeRaw`
        INSERT INTO "LedgerDelivery" ("eventId", "subscriptionId", "receivedAt", "tenantId", "status", "attempts",
          "updatedAt")
        SELECT v.event_id, v.subscription_id, (v.received_at AT TIME ZONE 'UTC'), v.tenant_id, 'PENDING', 0,
          (v.received_at AT TIME ZONE 'UTC')
        FROM unnest(${col((r) => r.eventId)}::text[], ${col((r) => r.subscriptionId)}::text[],
          ${col((r) => r.receivedAt)}::timestamptz[], ${col((r) => r.tenantId)}::text[])
          AS v(event_id, subscription_id, received_at, tenant_id)
        ON CONFLICT ("eventId", "subscriptionId", "receivedAt") DO NOTHING`);
    }

    // Attempts and the deliveries they belong to, in one statement per chunk of delivery keys: the attempt rows
    // actually inserted (a redelivered attempt is not) are what the delivery's "attempts" grows by.
    for (const rows of chunks(b.outcomes)) {
      const updated = rows.filter((o) => o.delivery !== undefined);
      const only = rows.filter((o) => o.delivery === undefined);
      if (updated.length > 0) outcomeStatements.push(this.prisma.$queryRaw<OutcomeCounts[]>(deliveryUpsert(updated)));
      if (only.length > 0) outcomeStatements.push(this.prisma.$queryRaw<OutcomeCounts[]>(attemptsOnly(only)));
    }

    const affected = await this.prisma.$transaction([...statements, ...outcomeStatements]);
    const counts: LedgerWriteCounts = { LedgerEvent: 0, LedgerDelivery: 0, LedgerAttempt: 0 };
    affected.forEach((r, i) => {
      if (typeof r === 'number') counts[tables[i]!] += r;
      else
        for (const { attempts, deliveries } of r) {
          counts.LedgerAttempt += attempts;
          counts.LedgerDelivery += deliveries;
        }
    });
    return counts;
  }
}

/** What an outcome statement wrote: attempt rows inserted, delivery rows inserted or changed. */
interface OutcomeCounts {
  attempts: number;
  deliveries: number;
}

/** Runs `upsert` (an INSERT into "LedgerDelivery" that may join `n`) after the attempts' CTE; selects the counts. */
function withAttempts(attempts: LedgerAttempt[], upsert: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    WITH ${insertedAttempts(attempts)},
    up AS (${upsert} RETURNING 1)
    SELECT (SELECT count(*) FROM ins)::int AS attempts, (SELECT count(*) FROM up)::int AS deliveries`;
}

/** The attempts to insert, as a CTE `ins` returning the delivery key of each row inserted, counted per key in `n`. */
function insertedAttempts(rows: LedgerAttempt[]): Prisma.Sql {
  const col = <T>(f: (r: LedgerAttempt) => T) => rows.map(f);
  return Prisma.sql`
    ins AS (
      INSERT INTO "LedgerAttempt" ("attemptId", "receivedAt", "eventId", "subscriptionId", "tenantId", "attemptedAt",
        "source", "attempt", "durationMs", "statusCode", "errorCode", "responseSnippet")
      SELECT v.attempt_id, (v.received_at AT TIME ZONE 'UTC'), v.event_id, v.subscription_id, v.tenant_id,
        (v.at AT TIME ZONE 'UTC'), v.source, v.attempt, v.duration_ms, v.status_code, v.error_code, v.snippet
      FROM unnest(${col((r) => r.attemptId)}::uuid[], ${col((r) => r.receivedAt)}::timestamptz[],
        ${col((r) => r.eventId)}::text[], ${col((r) => r.subscriptionId)}::text[], ${col((r) => r.tenantId)}::text[],
        ${col((r) => r.at)}::timestamptz[], ${col((r) => r.source)}::text[], ${col((r) => r.attempt)}::int[],
        ${col((r) => r.durationMs)}::int[], ${col((r) => r.statusCode)}::int[], ${col((r) => r.errorCode)}::text[],
        ${col((r) => r.responseSnippet)}::text[])
        AS v(attempt_id, received_at, event_id, subscription_id, tenant_id, at, source, attempt, duration_ms,
          status_code, error_code, snippet)
      ON CONFLICT ("attemptId", "receivedAt") DO NOTHING
      RETURNING "eventId", "subscriptionId", "receivedAt"
    ),
    n AS (SELECT "eventId", "subscriptionId", "receivedAt", count(*)::int AS n FROM ins GROUP BY 1, 2, 3)`;
}

const joinCount = Prisma.sql`LEFT JOIN n ON n."eventId" = v.event_id AND n."subscriptionId" = v.subscription_id
      AND n."receivedAt" = (v.received_at AT TIME ZONE 'UTC')`;

/**
 * Deliveries with a record in the batch: inserted, or updated. The attempt count always grows by the attempts
 * inserted; status / reason / lastStatusCode / nextAttemptAt / updatedAt move only to a record whose `at` is not
 * older than the row's (records of different processes arrive out of order).
 */
function deliveryUpsert(rows: PreparedOutcome[]): Prisma.Sql {
  const attempts = rows.flatMap((o) => o.attempts);
  const col = <T>(f: (r: LedgerDelivery) => T) => rows.map((o) => f(o.delivery as LedgerDelivery));
  const newer = Prisma.sql`EXCLUDED."updatedAt" >= d."updatedAt"`;
  return withAttempts(
    attempts,
    Prisma.sql`
    INSERT INTO "LedgerDelivery" AS d ("eventId", "subscriptionId", "receivedAt", "tenantId", "status", "reason",
      "attempts", "lastStatusCode", "nextAttemptAt", "updatedAt")
    SELECT v.event_id, v.subscription_id, (v.received_at AT TIME ZONE 'UTC'), v.tenant_id, v.status, v.reason,
      coalesce(n.n, 0), v.last_status, (v.next_at AT TIME ZONE 'UTC'), (v.at AT TIME ZONE 'UTC')
    FROM unnest(${col((r) => r.eventId)}::text[], ${col((r) => r.subscriptionId)}::text[],
      ${col((r) => r.receivedAt)}::timestamptz[], ${col((r) => r.tenantId)}::text[], ${col((r) => r.status)}::text[],
      ${col((r) => r.reason)}::text[], ${col((r) => r.lastStatusCode)}::int[],
      ${col((r) => r.nextAttemptAt)}::timestamptz[], ${col((r) => r.at)}::timestamptz[])
      AS v(event_id, subscription_id, received_at, tenant_id, status, reason, last_status, next_at, at)
    ${joinCount}
    ON CONFLICT ("eventId", "subscriptionId", "receivedAt") DO UPDATE SET
      "attempts" = d."attempts" + EXCLUDED."attempts",
      "status" = CASE WHEN ${newer} THEN EXCLUDED."status" ELSE d."status" END,
      "reason" = CASE WHEN ${newer} THEN EXCLUDED."reason" ELSE d."reason" END,
      "lastStatusCode" = CASE WHEN ${newer} THEN EXCLUDED."lastStatusCode" ELSE d."lastStatusCode" END,
      "nextAttemptAt" = CASE WHEN ${newer} THEN EXCLUDED."nextAttemptAt" ELSE d."nextAttemptAt" END,
      "updatedAt" = GREATEST(EXCLUDED."updatedAt", d."updatedAt")
    WHERE ${newer} OR EXCLUDED."attempts" > 0`,
  );
}

/**
 * Deliveries with attempts but no delivery record in the batch: the count grows by the attempts inserted. A row not
 * there yet is made PENDING, stamped with the event's "receivedAt" so any delivery record supersedes it.
 */
function attemptsOnly(rows: PreparedOutcome[]): Prisma.Sql {
  const attempts = rows.flatMap((o) => o.attempts);
  const col = <T>(f: (r: PreparedOutcome) => T) => rows.map(f);
  return withAttempts(
    attempts,
    Prisma.sql`
    INSERT INTO "LedgerDelivery" AS d ("eventId", "subscriptionId", "receivedAt", "tenantId", "status", "attempts",
      "updatedAt")
    SELECT v.event_id, v.subscription_id, (v.received_at AT TIME ZONE 'UTC'), v.tenant_id, 'PENDING',
      coalesce(n.n, 0), (v.received_at AT TIME ZONE 'UTC')
    FROM unnest(${col((r) => r.eventId)}::text[], ${col((r) => r.subscriptionId)}::text[],
      ${col((r) => r.receivedAt)}::timestamptz[], ${col((r) => r.tenantId)}::text[])
      AS v(event_id, subscription_id, received_at, tenant_id)
    ${joinCount}
    ON CONFLICT ("eventId", "subscriptionId", "receivedAt") DO UPDATE SET "attempts" = d."attempts" + EXCLUDED."attempts"
    WHERE EXCLUDED."attempts" > 0`,
  );
}

/** A data fault (Postgres refuses what the records hold) becomes RecordRefusedError; anything else as it is. */
function refused(err: unknown): unknown {
  const state = sqlStateOf(err);
  if (state && DATA_FAULT.test(state)) return new RecordRefusedError((err as Error).message, state);
  return err;
}
