/**
 * The ledger writer's store on Postgres (node-postgres): one transaction per batch, multi-row statements of at most
 * CHUNK rows (unnest: one array parameter per column, each in Postgres's binary array format, the payload bodies as
 * one bytea parameter: postgres/binary-array.ts), idempotent under redelivery.
 *
 *   ensureDays (the batch's days' partitions, cached) ─▶ BEGIN
 *     LedgerEvent     INSERT (fresh) / INSERT … ON CONFLICT ("eventId", "receivedAt") DO NOTHING (idempotent)
 *     LedgerAttempt   INSERT (fresh): every attempt row of the batch is new /
 *                     INSERT … ON CONFLICT ("attemptId", "receivedAt") DO NOTHING RETURNING the delivery key
 *                     (idempotent): the attempt rows inserted (a redelivered attempt is not, so it never counts
 *                     twice), per delivery
 *     LedgerDelivery  every delivery the batch touches, one upsert: "attempts" grows by its attempt rows inserted;
 *                     status / reason / lastStatusCode / nextAttemptAt only from a delivery record whose `at` is not
 *                     older than the row's "updatedAt" (processes' records arrive out of order); a PENDING row (an
 *                     event's fan-out) is made if missing and changes nothing else
 *   COMMIT   (a deadlock, which the lock order below should make impossible, is retried a few times)
 *
 * Lock order (ledger-store.ts says why): the tables in the order above, each table's rows sorted by primary key
 * (prepareBatch) and chunked in that order, and every INSERT … SELECT consumes its rows in array order (`WITH
 * ORDINALITY … ORDER BY`), so a row is locked (inserted, or found conflicting) in that order whatever plan Postgres
 * picks. The attempt counts go from the attempt statements to the delivery statements through this process (an
 * interactive transaction), so that all attempt rows are locked before any delivery row.
 *
 * A PENDING row made from the event record is stamped with the event's "receivedAt", the earliest instant of the
 * delivery: any delivery record supersedes it.
 *
 * Fresh first: almost every batch holds only events and attempts that are not in the tables yet, and a plain INSERT
 * costs Postgres less than one with ON CONFLICT (a speculative insertion: an index probe before the insert and a
 * confirmation record in the WAL for every row); with the attempts counted here instead of by RETURNING … GROUP BY,
 * ~18% of its CPU per delivery (bench/ledger-store.ts; BENCHMARKS.md, 2026-12-03, 12:50 section). A batch that holds a row already written (a redelivery after a crash or a rebalance, a replay) fails
 * that INSERT with unique_violation, is rolled back and written again idempotently, and so are the batches after it
 * until one of them finds every row new.
 */
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../logging/logger';
import { int4Array, textArray } from '../postgres/binary-array';
import { refusedOr, sqlStateOf } from '../postgres/sql-state';
import type { LedgerAttempt, LedgerRecord } from './ledger-record';
import {
  createPartitionSql,
  dayOfPartition,
  daysOf,
  deliveryKeyOf,
  LEDGER_TABLES,
  type LedgerTable,
  type LedgerWriteCounts,
  type LedgerWriterStore,
  type PreparedBatch,
  type PreparedDelivery,
  type PreparedEvent,
  partitionName,
  prepareBatch,
  rememberedAsWritten,
  utcDay,
} from './ledger-store';

/** Rows per statement. */
const CHUNK = 500;
/** check_violation: also what Postgres answers for a row no partition accepts (its day was dropped meanwhile). */
const NO_PARTITION = '23514';
/** deadlock_detected */
const DEADLOCK = '40P01';
/** unique_violation: a fresh write met a row already written. */
const UNIQUE_VIOLATION = '23505';
/**
 * How long one statement of a batch's transaction may run (SET LOCAL statement_timeout): a chunk of rows waiting
 * behind another transaction's row locks on a busy Postgres can take seconds. A statement past it fails the batch,
 * which is rolled back and fetched again.
 */
const STATEMENT_TIMEOUT_MS = 30_000;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/**
 * On node-postgres directly, not Prisma: the writer's statements carry a few large array parameters, and Prisma's
 * layer per statement (its query interpreter, parameter checks, tracing scopes) cost as much CPU as building them
 * (BENCHMARKS.md, 2026-12-02, 09:15 section). The pool is the caller's (the dlt-processor gives the writer one of
 * its own and ends it at shutdown).
 */
export class LedgerWriterStorePg implements LedgerWriterStore {
  /** Days whose three partitions are known to exist. */
  private readonly days = new Set<string>();

  private readonly log?: Logger;
  private readonly deadlockRetries: number;
  /**
   * Delivery keys this store has committed a state after PENDING for, the most recent `rememberDeliveries` of them
   * (oldest forgotten first): a later PENDING proposal for one of them is left out of the batch (prepareBatch). Rows are never deleted
   * but by dropping a whole day past retention, whose records the writer skips anyway.
   */
  private readonly written = new Set<string>();
  private readonly rememberDeliveries: number;
  /** A fresh write met a row already written: batches are written idempotently until one finds every row new. */
  private idempotent = false;

  constructor(
    private readonly pool: Pool,
    opts: {
      /** Where a retried deadlock is told (info). */
      log?: Logger;
      /** Retries of a write Postgres aborted as a deadlock (default 3). */
      deadlockRetries?: number;
      /**
       * Delivery keys remembered as written (default 100,000: the deliveries of a 100,000-event saturation run, whose
       * events the writer is left with afterwards; ~14 MB). 0 remembers none.
       */
      rememberDeliveries?: number;
    } = {},
  ) {
    this.log = opts.log;
    this.deadlockRetries = opts.deadlockRetries ?? 3;
    this.rememberDeliveries = opts.rememberDeliveries ?? 100_000;
  }

  private remember(b: PreparedBatch): void {
    if (this.rememberDeliveries === 0) return;
    for (const d of b.deliveries) {
      if (!rememberedAsWritten(d)) continue;
      // Re-inserted: a key written again moves to the young end.
      this.written.delete(d.key);
      this.written.add(d.key);
    }
    let excess = this.written.size - this.rememberDeliveries;
    if (excess <= 0) return;
    for (const key of this.written) {
      this.written.delete(key);
      if (--excess === 0) break;
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
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
      await this.pool.query(createPartitionSql(table, day));
    } catch (err) {
      // Another writer created it between our IF NOT EXISTS check and the catalog insert: duplicate_table (42P07),
      // or a unique violation on the catalog (23505). Either way it is there now; anything else is a failure.
      const name = partitionName(table, day);
      const { rows } = await this.pool.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [
        `"${name}"`,
      ]);
      if (!rows[0]?.exists) throw err;
    }
  }

  async dropPartitionsBefore(day: string | Date): Promise<string[]> {
    const cutoff = typeof day === 'string' ? utcDay(`${day}T00:00:00.000Z`) : utcDay(day);
    const { rows: parts } = await this.pool.query<{ parent: string; child: string }>(
      `SELECT p.relname AS parent, c.relname AS child
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
       WHERE n.nspname = current_schema() AND p.relname = ANY($1::text[])`,
      [[...LEDGER_TABLES]],
    );
    const dropped = new Set<string>();
    for (const { parent, child } of parts) {
      const d = dayOfPartition(parent as LedgerTable, child);
      if (d === undefined || d >= cutoff) continue;
      this.days.delete(d);
      await this.pool.query(`DROP TABLE IF EXISTS "${partitionName(parent as LedgerTable, d)}"`);
      dropped.add(d);
    }
    this.forget((day) => day < cutoff);
    return [...dropped].sort();
  }

  /** Forgets the delivery keys whose day (of their "receivedAt", the key's last part) `gone` says was dropped. */
  private forget(gone: (day: string) => boolean): void {
    for (const key of this.written) {
      const at = key.lastIndexOf('\u0000') + 1;
      if (gone(key.slice(at, at + 10))) this.written.delete(key);
    }
  }

  async write(records: LedgerRecord[]): Promise<LedgerWriteCounts> {
    if (records.length === 0) return { LedgerEvent: 0, LedgerDelivery: 0, LedgerAttempt: 0 };
    const days = daysOf(records);
    const written = { written: (key: string) => this.written.has(key) };
    const b = prepareBatch(records, written);
    try {
      await this.ensureDays(days);
      const counts = await this.writeRetrying(b);
      this.remember(b);
      return counts;
    } catch (err) {
      if (sqlStateOf(err) === NO_PARTITION) {
        // A partition we knew of is gone (retention of another instance): make the days again, once, with every
        // row of those days (the ones remembered as written went with the partition).
        for (const d of days) this.days.delete(d);
        const dropped = new Set(days);
        this.forget((day) => dropped.has(day));
        try {
          await this.ensureDays(days);
          const again = prepareBatch(records, written);
          const counts = await this.writeRetrying(again);
          this.remember(again);
          return counts;
        } catch (again) {
          throw refusedOr(again);
        }
      }
      throw refusedOr(err);
    }
  }

  /**
   * The safety net under the lock order: a deadlock (which the order should make impossible between writers; a
   * writer of another version during a rollout, or DDL on a ledger table, could still be part of one) is retried
   * at once a few times, instead of failing the batch (which pauses the topic and fetches it again).
   */
  private async writeRetrying(b: PreparedBatch): Promise<LedgerWriteCounts> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.writeRows(b);
      } catch (err) {
        if (sqlStateOf(err) !== DEADLOCK || retry >= this.deadlockRetries) throw err;
        this.log?.info({ retry: retry + 1, rows: b.deliveries.length }, 'ledger write deadlocked; retrying');
        // Postgres rolled this transaction back and let the other go on; a little jitter keeps them apart.
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * (retry + 1)));
      }
    }
  }

  /** Fresh first (see the top), idempotently when a row of the batch was written before. */
  private async writeRows(b: PreparedBatch): Promise<LedgerWriteCounts> {
    if (!this.idempotent) {
      try {
        return await this.transaction(b, false);
      } catch (err) {
        if (sqlStateOf(err) !== UNIQUE_VIOLATION) throw err;
        this.idempotent = true;
      }
    }
    const counts = await this.transaction(b, true);
    if (counts.LedgerEvent === b.events.length && counts.LedgerAttempt === b.attempts.length) this.idempotent = false;
    return counts;
  }

  private async transaction(b: PreparedBatch, idempotent: boolean): Promise<LedgerWriteCounts> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // The connection lost while checked out (the server restarted, the backend terminated) is told as an 'error'
    // event besides the failed statement; with no listener the process would crash. The client is destroyed.
    const lost = (err: Error) => {
      broken = err;
    };
    client.on('error', lost);
    try {
      await client.query(`BEGIN; SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      try {
        const counts = await writeInTransaction(client, b, idempotent);
        await client.query('COMMIT');
        return counts;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollback) {
          // The connection is gone or unusable: it is destroyed, not returned to the pool.
          broken = rollback as Error;
        }
        throw err;
      }
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }
}

async function writeInTransaction(
  client: PoolClient,
  b: PreparedBatch,
  idempotent: boolean,
): Promise<LedgerWriteCounts> {
  const counts: LedgerWriteCounts = { LedgerEvent: 0, LedgerDelivery: 0, LedgerAttempt: 0 };
  for (const rows of chunks(b.events))
    counts.LedgerEvent += (await client.query(insertEvents(rows, idempotent))).rowCount ?? 0;
  // Attempt rows inserted, per delivery key: what each delivery's "attempts" grows by.
  const inserted = new Map<string, number>();
  for (const rows of chunks(b.attempts)) {
    if (!idempotent) {
      // Every row is inserted (or the statement fails: unique_violation).
      await client.query(insertAttempts(rows, false));
      for (const r of rows) {
        const key = deliveryKeyOf(r);
        inserted.set(key, (inserted.get(key) ?? 0) + 1);
      }
      counts.LedgerAttempt += rows.length;
      continue;
    }
    for (const r of (await client.query<InsertedAttempts>(insertAttempts(rows, true))).rows) {
      const key = deliveryKeyOf(r);
      inserted.set(key, (inserted.get(key) ?? 0) + r.n);
      counts.LedgerAttempt += r.n;
    }
  }
  for (const rows of chunks(b.deliveries))
    counts.LedgerDelivery +=
      (
        await client.query(
          upsertDeliveries(
            rows,
            rows.map((d) => inserted.get(deliveryKeyOf(d)) ?? 0),
          ),
        )
      ).rowCount ?? 0;
  return counts;
}

/** Column builders over a chunk's rows: each column one array parameter in the binary format. */
function columns<T>(rows: T[]) {
  return {
    text: (f: (r: T) => string | null | undefined) => textArray(rows.map(f)),
    int: (f: (r: T) => number | null | undefined) => int4Array(rows.map(f)),
  };
}

interface Statement {
  text: string;
  values: unknown[];
}

const INSERT_EVENTS = `
  INSERT INTO "LedgerEvent" ("eventId", "receivedAt", "tenantId", "type", "source", "subject", "match", "domain",
    "traceId", "fanOut", "ingestTopic", "ingestPartition", "ingestOffset", "payloadHeaders", "payloadBody")
  SELECT v.event_id, (v.received_at::timestamptz AT TIME ZONE 'UTC'), v.tenant_id, v.type, v.source, v.subject,
    v.match::jsonb, v.domain, v.trace_id, v.fan_out, v.ingest_topic, v.ingest_partition, v.ingest_offset,
    v.headers::jsonb, substring($17::bytea FROM v.body_at + 1 FOR v.body_len)
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::int[], $11::text[], $12::int[], $13::text[], $14::text[], $15::int[], $16::int[]) WITH ORDINALITY
    AS v(event_id, received_at, tenant_id, type, source, subject, match, domain, trace_id, fan_out, ingest_topic,
      ingest_partition, ingest_offset, headers, body_at, body_len, ord)
  ORDER BY v.ord`;
const INSERT_EVENTS_IDEMPOTENT = `${INSERT_EVENTS}
  ON CONFLICT ("eventId", "receivedAt") DO NOTHING`;

/**
 * Timestamps travel as ISO strings and become UTC `timestamp(3)` (`AT TIME ZONE 'UTC'`), as Prisma stores DateTime.
 * Every column is one array parameter in the binary format (binary-array.ts); the payload bodies travel as ONE
 * bytea parameter (no base64, no escaping) and each row takes its slice of it.
 */
function insertEvents(rows: PreparedEvent[], idempotent: boolean): Statement {
  const { text, int } = columns(rows);
  const bodies = rows.map((r) =>
    typeof r.payload.body === 'string' ? Buffer.from(r.payload.body, 'base64') : r.payload.body,
  );
  const at: number[] = [];
  let offset = 0;
  for (const b of bodies) {
    at.push(offset);
    offset += b.length;
  }
  return {
    text: idempotent ? INSERT_EVENTS_IDEMPOTENT : INSERT_EVENTS,
    values: [
      text((r) => r.eventId),
      text((r) => r.receivedAt),
      text((r) => r.tenantId),
      text((r) => r.type),
      text((r) => r.source),
      text((r) => r.subject),
      text((r) => JSON.stringify(r.match)),
      text((r) => r.domain),
      text((r) => r.traceId),
      int((r) => r.fanOut),
      text((r) => r.ingest?.topic),
      int((r) => r.ingest?.partition),
      text((r) => r.ingest?.offset),
      text((r) => JSON.stringify(r.payload.headers)),
      int4Array(at),
      int4Array(bodies.map((b) => b.length)),
      Buffer.concat(bodies, offset),
    ],
  };
}

/** Attempt rows inserted for one delivery (its key as prepareBatch writes it: ISO with milliseconds, UTC). */
interface InsertedAttempts {
  eventId: string;
  subscriptionId: string;
  receivedAt: string;
  n: number;
}

const INSERT_ATTEMPT_ROWS = `
    INSERT INTO "LedgerAttempt" ("attemptId", "receivedAt", "eventId", "subscriptionId", "tenantId", "attemptedAt",
      "source", "attempt", "durationMs", "statusCode", "errorCode", "responseSnippet")
    SELECT v.attempt_id::uuid, (v.received_at::timestamptz AT TIME ZONE 'UTC'), v.event_id, v.subscription_id,
      v.tenant_id, (v.at::timestamptz AT TIME ZONE 'UTC'), v.source, v.attempt, v.duration_ms, v.status_code,
      v.error_code, v.snippet
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[],
      $9::int[], $10::int[], $11::text[], $12::text[]) WITH ORDINALITY
      AS v(attempt_id, received_at, event_id, subscription_id, tenant_id, at, source, attempt, duration_ms,
        status_code, error_code, snippet, ord)
    ORDER BY v.ord`;
const INSERT_ATTEMPTS_IDEMPOTENT = `
  WITH ins AS (${INSERT_ATTEMPT_ROWS}
    ON CONFLICT ("attemptId", "receivedAt") DO NOTHING
    RETURNING "eventId", "subscriptionId", "receivedAt"
  )
  SELECT "eventId", "subscriptionId", to_char("receivedAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "receivedAt",
    count(*)::int AS n
  FROM ins GROUP BY 1, 2, 3`;

/**
 * Inserts the attempts. Idempotent: answers the rows inserted (a redelivered attempt is not), counted per delivery;
 * fresh: every row is inserted, or the statement fails.
 */
function insertAttempts(rows: LedgerAttempt[], idempotent: boolean): Statement {
  const { text, int } = columns(rows);
  return {
    text: idempotent ? INSERT_ATTEMPTS_IDEMPOTENT : INSERT_ATTEMPT_ROWS,
    values: [
      text((r) => r.attemptId),
      text((r) => r.receivedAt),
      text((r) => r.eventId),
      text((r) => r.subscriptionId),
      text((r) => r.tenantId),
      text((r) => r.at),
      text((r) => r.source),
      int((r) => r.attempt),
      int((r) => r.durationMs),
      int((r) => r.statusCode),
      text((r) => r.errorCode),
      text((r) => r.responseSnippet),
    ],
  };
}

/** Whether a proposed row moves the delivery to its state (see upsertDeliveries). */
const MOVES = `(EXCLUDED."updatedAt" >= d."updatedAt"
    AND NOT (EXCLUDED."status" = 'PENDING' AND EXCLUDED."updatedAt" = EXCLUDED."receivedAt"))`;

const UPSERT_DELIVERIES = `
  INSERT INTO "LedgerDelivery" AS d ("eventId", "subscriptionId", "receivedAt", "tenantId", "status", "reason",
    "attempts", "lastStatusCode", "nextAttemptAt", "updatedAt")
  SELECT v.event_id, v.subscription_id, (v.received_at::timestamptz AT TIME ZONE 'UTC'), v.tenant_id,
    coalesce(v.status, 'PENDING'), v.reason, v.attempts, v.last_status, (v.next_at::timestamptz AT TIME ZONE 'UTC'),
    (coalesce(v.at, v.received_at)::timestamptz AT TIME ZONE 'UTC')
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
    $9::text[], $10::text[])
    WITH ORDINALITY AS v(event_id, subscription_id, received_at, tenant_id, status, reason, attempts, last_status,
      next_at, at, ord)
  ORDER BY v.ord
  ON CONFLICT ("eventId", "subscriptionId", "receivedAt") DO UPDATE SET
    "attempts" = d."attempts" + EXCLUDED."attempts",
    "status" = CASE WHEN ${MOVES} THEN EXCLUDED."status" ELSE d."status" END,
    "reason" = CASE WHEN ${MOVES} THEN EXCLUDED."reason" ELSE d."reason" END,
    "lastStatusCode" = CASE WHEN ${MOVES} THEN EXCLUDED."lastStatusCode" ELSE d."lastStatusCode" END,
    "nextAttemptAt" = CASE WHEN ${MOVES} THEN EXCLUDED."nextAttemptAt" ELSE d."nextAttemptAt" END,
    "updatedAt" = CASE WHEN ${MOVES} THEN EXCLUDED."updatedAt" ELSE d."updatedAt" END
  WHERE ${MOVES} OR EXCLUDED."attempts" > 0`;

/**
 * Every delivery of the batch, inserted or updated in one statement per chunk, whatever made it (one sorted list:
 * see the top; PENDING rows in a statement of their own would lock out of order). `attempts[i]` is what row i's
 * count grows by. A row without a delivery record in the batch is proposed as the state every delivery starts in:
 * PENDING, stamped with the event's "receivedAt". That state never replaces a row's (the row is PENDING already, or
 * has moved on), it only adds its attempts; the statement tells it from EXCLUDED, the one row it sees (a delivery
 * record of PENDING made at the very instant the event was received would be read the same way, and say nothing
 * more). A row proposed from a delivery record moves to it unless the row's "updatedAt" is newer. A row that
 * changes nothing is locked, not rewritten.
 */
function upsertDeliveries(rows: PreparedDelivery[], attempts: number[]): Statement {
  const { text, int } = columns(rows);
  return {
    text: UPSERT_DELIVERIES,
    values: [
      text((r) => r.eventId),
      text((r) => r.subscriptionId),
      text((r) => r.receivedAt),
      text((r) => r.tenantId),
      text((r) => r.delivery?.status),
      text((r) => r.delivery?.reason),
      int4Array(attempts),
      int((r) => r.delivery?.lastStatusCode),
      text((r) => r.delivery?.nextAttemptAt),
      text((r) => r.delivery?.at),
    ],
  };
}
