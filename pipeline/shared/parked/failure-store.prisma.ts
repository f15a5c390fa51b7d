/**
 * FailureStore on Postgres through Prisma. Raw SQL where Postgres does the work best: `ON CONFLICT` upserts of a
 * whole batch, and `FOR UPDATE SKIP LOCKED` claims so several dlt-processor instances never share a row.
 *
 * A step's delivery-ledger records go into "LedgerOutbox" in the transaction that records the step (recordAttempt),
 * so the ledger never misses a committed step; the ledger relay (dlt-processor/ledger-relay.kafka.ts) produces and
 * deletes them, woken by `onLedgerOutbox` after the commit.
 */
import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '../../../prisma/client';
import type { LedgerRecord } from '../ledger/ledger-record';
import { refusedOr } from '../postgres/sql-state';
import { decodeCursor, encodeCursor } from './cursor';
import type { FailureStatus } from './failure-store';
import {
  type AttemptRecord,
  type FailureFilter,
  type FailureStore,
  LANE_WAIT,
  type LaneKey,
  type LaneView,
  RecordRefusedError,
  type StoredFailure,
} from './failure-store';
import { parkedLedgerRecords } from './parked-ledger';
import type { NewFailure } from './parse-dlt-record';

type Row = Prisma.FailedEventGetPayload<object>;
/** Rows one transaction of a bulk state change takes (changeRows); also the ledger records of one outbox row. */
const BULK_CHANGE_ROWS = 500;

interface AttemptNext {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  reason: string | null;
  countsAsScheduled: boolean;
  claimedBy: string;
  ledger?: LedgerRecord[];
}
interface PendingAttempt {
  id: string;
  a: AttemptRecord | null;
  next: AttemptNext;
  resolve: (applied: boolean) => void;
  reject: (err: unknown) => void;
}

const UNRESOLVED = ['PENDING', 'RETRYING', 'HELD', 'FAILED'];
/** Rows per INSERT statement (one array parameter per column). */
const CHUNK = 500;

/** Timestamps travel as ISO strings and become UTC `timestamp(3)` (`AT TIME ZONE 'UTC'`), as Prisma stores DateTime. */
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toStored(r: Row): StoredFailure {
  return {
    ...r,
    ceHeaders: r.ceHeaders as Record<string, string>,
    failureHeaders: r.failureHeaders as Record<string, string>,
    body: Buffer.from(r.body),
    status: r.status as FailureStatus,
  };
}

function where(f: FailureFilter): Prisma.FailedEventWhereInput {
  return {
    tenantId: f.tenantId,
    subscriptionId: f.subscriptionId,
    status: f.status,
    eventType: f.eventType,
    domain: f.domain,
    createdAt: f.from || f.to ? { gte: f.from, lt: f.to } : undefined,
  };
}

export class FailureStorePrisma implements FailureStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly opts: {
      /** Called after a transaction that wrote ledger records to the outbox has committed (wakes the relay). */
      onLedgerOutbox?: () => void;
      /**
       * The state changes this store makes in bulk (held rows released or skipped, a lane head released by an
       * operator, LANE_WAIT rows released) write the ledger's delivery records of every changed row to the ledger
       * outbox in the same transaction, so the ledger's status follows the row (LEDGER_ENABLED).
       */
      recordLedger?: boolean;
    } = {},
  ) {}

  /**
   * Runs a bulk state change and, with `recordLedger`, writes each changed row's ledger delivery record to the ledger
   * outbox in the same transaction. `change(db, limit)` changes at most `limit` rows (`FOR UPDATE SKIP LOCKED`) and
   * returns them; it runs again, each time in its own short transaction, until it changes fewer: a subscription
   * resumed with a backlog of a hundred thousand held rows is many small transactions, never one that outlasts its
   * timeout and rolls everything back at every tick. Returns how many rows changed.
   */
  private async changeRows(
    change: (db: Prisma.TransactionClient | PrismaClient, limit: number) => Promise<Row[]>,
  ): Promise<number> {
    let total = 0;
    for (;;) {
      let changed: Row[];
      if (!this.opts.recordLedger) changed = await change(this.prisma, BULK_CHANGE_ROWS);
      else {
        changed = await this.prisma.$transaction(
          async (tx) => {
            const rows = await change(tx, BULK_CHANGE_ROWS);
            // Stamped after the rows are locked and changed: a step recorded before this change is older.
            const at = new Date();
            const records = rows.map((r) => {
              const f = toStored(r);
              return parkedLedgerRecords(f, { at, status: f.status, reason: f.reason, nextAttemptAt: f.nextAttemptAt });
            });
            if (records.length > 0)
              await tx.$executeRaw`INSERT INTO "LedgerOutbox" ("records") VALUES (${JSON.stringify(records.flat())})`;
            return rows;
          },
          { maxWait: 10_000, timeout: 30_000 },
        );
        if (changed.length > 0) this.opts.onLedgerOutbox?.();
      }
      total += changed.length;
      if (changed.length < BULK_CHANGE_ROWS) return total;
    }
  }

  async persistBatch(batch: NewFailure[]): Promise<void> {
    if (batch.length === 0) return;
    // One statement cannot update a row twice: keep the last of repeated (eventId, subscriptionId) in a batch.
    const rows = [...new Map(batch.map((r) => [`${r.eventId}\u0000${r.subscriptionId}`, r])).values()];
    // "attempts" counts the DLT processor's scheduled attempts (MAX_ATTEMPTS applies to them); the outbox's
    // attempts stay in failureHeaders and as the OUTBOX attempt row.
    // One statement for the batch; a repeated (eventId, subscriptionId) updates the row. An already resolved
    // row keeps its status (the subscriber has the event); an unresolved one takes the newest failure.
    try {
      await this.upsert(rows);
    } catch (err) {
      throw refusedOr(err);
    }
  }

  private async upsert(rows: NewFailure[]): Promise<void> {
    // One array parameter per column (unnest), not 20 bind parameters per row: binding and serialising ten
    // thousand parameters per 500-row chunk was the largest cost of the dlt-processor's persist path (Prisma client
    // 17% of its CPU, BENCHMARKS.md). Timestamps travel as ISO strings and become UTC `timestamp(3)`, as Prisma
    // stores DateTime; bodies as base64, JSON as text. All chunks share one transaction.
    const now = new Date();
    await this.prisma.$transaction(
      async (tx) => {
        for (let i = 0; i < rows.length; i += CHUNK) {
          const chunk = rows.slice(i, i + CHUNK);
          const col = <T>(f: (r: NewFailure) => T) => chunk.map(f);
          const inserted = await tx.$queryRaw<{ id: string; eventId: string; subscriptionId: string }[]>`
        INSERT INTO "FailedEvent" ("id", "eventId", "subscriptionId", "tenantId", "domain", "eventType",
          "sourceTopic", "sourcePartition", "sourceOffset", "ceHeaders", "body", "failureHeaders", "status", "reason",
          "nextAttemptAt", "lastStatusCode", "lastErrorCode", "firstFailedAt", "lastFailedAt", "attempts", "ordered",
          "laneSeq", "resolvedAt")
        SELECT v.id, v.event_id, v.subscription_id, v.tenant_id, v.domain, v.event_type,
          v.source_topic, v.source_partition, v.source_offset, v.ce_headers::jsonb, decode(v.body, 'base64'),
          v.failure_headers::jsonb, v.status, v.reason, (v.next_at AT TIME ZONE 'UTC'), v.last_status, v.last_code,
          (v.first_at AT TIME ZONE 'UTC'), (v.last_at AT TIME ZONE 'UTC'), 0, v.ordered, v.lane_seq,
          CASE WHEN v.status = 'SKIPPED' THEN (v.next_at AT TIME ZONE 'UTC') END
        FROM unnest(${col(() => randomUUID())}::uuid[], ${col((r) => r.eventId)}::text[], ${col((r) => r.subscriptionId)}::text[],
          ${col((r) => r.tenantId)}::text[], ${col((r) => r.domain)}::text[], ${col((r) => r.eventType)}::text[],
          ${col((r) => r.sourceTopic)}::text[], ${col((r) => r.sourcePartition)}::int[], ${col((r) => r.sourceOffset)}::text[],
          ${col((r) => JSON.stringify(r.ceHeaders))}::text[], ${col((r) => r.body.toString('base64'))}::text[],
          ${col((r) => JSON.stringify(r.failureHeaders))}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.reason)}::text[],
          ${col((r) => (r.status === 'PENDING' ? iso(r.nextAttemptAt ?? now) : r.status === 'SKIPPED' ? iso(now) : null))}::timestamptz[], ${col((r) => r.lastStatusCode)}::int[],
          ${col((r) => r.lastErrorCode)}::text[], ${col((r) => iso(r.firstFailedAt))}::timestamptz[],
          ${col((r) => iso(r.lastFailedAt))}::timestamptz[], ${col((r) => r.ordered === true)}::boolean[],
          ${col((r) => r.laneSeq ?? null)}::bigint[])
          AS v(id, event_id, subscription_id, tenant_id, domain, event_type, source_topic, source_partition,
               source_offset, ce_headers, body, failure_headers, status, reason, next_at, last_status, last_code,
               first_at, last_at, ordered, lane_seq)
        ON CONFLICT ("eventId", "subscriptionId") DO UPDATE SET
          "failureHeaders" = EXCLUDED."failureHeaders",
          "ceHeaders" = EXCLUDED."ceHeaders",
          "body" = EXCLUDED."body",
          "sourceTopic" = EXCLUDED."sourceTopic",
          "sourcePartition" = EXCLUDED."sourcePartition",
          "sourceOffset" = EXCLUDED."sourceOffset",
          "lastFailedAt" = GREATEST("FailedEvent"."lastFailedAt", EXCLUDED."lastFailedAt"),
          "lastStatusCode" = EXCLUDED."lastStatusCode",
          "lastErrorCode" = EXCLUDED."lastErrorCode",
          "ordered" = EXCLUDED."ordered",
          "laneSeq" = COALESCE("FailedEvent"."laneSeq", EXCLUDED."laneSeq"),
          "reason" = CASE WHEN "FailedEvent"."status" IN ('DELIVERED', 'REPLAYED') THEN "FailedEvent"."reason"
                          WHEN "FailedEvent"."sourceOffset" IS NOT DISTINCT FROM EXCLUDED."sourceOffset"
                           AND "FailedEvent"."sourceTopic" IS NOT DISTINCT FROM EXCLUDED."sourceTopic" THEN "FailedEvent"."reason"
                          ELSE EXCLUDED."reason" END,
          "status" = CASE WHEN "FailedEvent"."status" IN ('DELIVERED', 'REPLAYED') THEN "FailedEvent"."status"
                          WHEN "FailedEvent"."sourceOffset" IS NOT DISTINCT FROM EXCLUDED."sourceOffset"
                           AND "FailedEvent"."sourceTopic" IS NOT DISTINCT FROM EXCLUDED."sourceTopic" THEN "FailedEvent"."status"
                          ELSE EXCLUDED."status" END,
          "nextAttemptAt" = CASE WHEN "FailedEvent"."status" IN ('DELIVERED', 'REPLAYED') THEN "FailedEvent"."nextAttemptAt"
                          WHEN "FailedEvent"."sourceOffset" IS NOT DISTINCT FROM EXCLUDED."sourceOffset"
                           AND "FailedEvent"."sourceTopic" IS NOT DISTINCT FROM EXCLUDED."sourceTopic" THEN "FailedEvent"."nextAttemptAt"
                          ELSE EXCLUDED."nextAttemptAt" END,
          "updatedAt" = now()
        RETURNING "id", "eventId", "subscriptionId"`;
          // The outbox attempts that led here, once per DLT record (a redelivered record adds nothing).
          const idOf = new Map(inserted.map((x) => [`${x.eventId}\u0000${x.subscriptionId}`, x.id]));
          const attemptRows = chunk
            .map((r) => ({ r, id: idOf.get(`${r.eventId}\u0000${r.subscriptionId}`) }))
            .filter((x): x is { r: NewFailure; id: string } => x.id !== undefined);
          if (attemptRows.length > 0) {
            const acol = <T>(f: (x: { r: NewFailure; id: string }) => T) => attemptRows.map(f);
            await tx.$executeRaw`
          INSERT INTO "DeliveryAttempt" ("failedEventId", "attemptedAt", "source", "statusCode", "errorCode", "durationMs", "responseSnippet")
          SELECT v.id, (v.at AT TIME ZONE 'UTC'), 'OUTBOX', v.status, v.code, 0, ${'outbox retries exhausted'}
          FROM unnest(${acol((x) => x.id)}::uuid[], ${acol((x) => iso(x.r.lastFailedAt))}::timestamptz[],
            ${acol((x) => x.r.lastStatusCode)}::int[], ${acol((x) => x.r.lastErrorCode)}::text[]) AS v(id, at, status, code)
          WHERE NOT EXISTS (
            SELECT 1 FROM "DeliveryAttempt" d WHERE d."failedEventId" = v.id AND d."source" = 'OUTBOX' AND d."responseSnippet" = 'outbox retries exhausted' AND d."errorCode" IS NOT DISTINCT FROM v.code AND d."attemptedAt" = (v.at AT TIME ZONE 'UTC')
          )`;
          }
        }
      },
      { timeout: 30_000 },
    );
  }

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }

  async claimDue(instanceId: string, limit: number, leaseMs: number): Promise<StoredFailure[]> {
    const rows = await this.prisma.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "claimedBy" = ${instanceId}, "claimedUntil" = now() + ${`${leaseMs} milliseconds`}::interval,
        "status" = 'RETRYING', "updatedAt" = now()
      WHERE "id" IN (
        SELECT "id" FROM "FailedEvent" f
        WHERE "status" IN ('PENDING', 'RETRYING') AND "nextAttemptAt" <= now()
          AND ("claimedUntil" IS NULL OR "claimedUntil" < now())
          -- an ordered lane is attempted at its head only: nothing unresolved before it in the lane
          AND (NOT f."ordered" OR NOT EXISTS (
            SELECT 1 FROM "FailedEvent" o
            WHERE o."ordered" AND o."subscriptionId" = f."subscriptionId" AND o."tenantId" = f."tenantId"
              AND o."status" IN ('PENDING', 'RETRYING', 'HELD')
              AND (o."laneSeq", o."createdAt", o."id") < (f."laneSeq", f."createdAt", f."id")))
        ORDER BY "nextAttemptAt" LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(toStored);
  }

  async claimForReplay(id: string, instanceId: string, leaseMs: number) {
    const [claimed] = await this.claimManyForReplay([id], instanceId, leaseMs);
    if (claimed) return claimed;
    const row = await this.prisma.failedEvent.findUnique({ where: { id } });
    if (!row) return undefined;
    return row.status === 'DELIVERED' || row.status === 'REPLAYED' ? ('resolved' as const) : ('busy' as const);
  }

  async claimManyForReplay(ids: string[], instanceId: string, leaseMs: number): Promise<StoredFailure[]> {
    if (ids.length === 0) return [];
    const rows = await this.prisma.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "claimedBy" = ${instanceId}, "claimedUntil" = now() + ${`${leaseMs} milliseconds`}::interval, "updatedAt" = now()
      WHERE "id" = ANY(${ids}::uuid[]) AND "status" IN ('PENDING', 'RETRYING', 'HELD', 'FAILED', 'SKIPPED') AND ("claimedUntil" IS NULL OR "claimedUntil" < now())
      RETURNING *`;
    return rows.map(toStored);
  }

  /**
   * Records an attempt and the row's new status (only while the claim is still ours; the attempt itself always).
   * Group commit: calls that arrive while a write is in flight are written together in the next transaction, so
   * N concurrent redeliveries cost about one commit, not N (bulk replay and scheduled retries went from one
   * transaction per row to one per batch).
   */
  recordAttempt(id: string, a: AttemptRecord | null, next: AttemptNext): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.attemptQueue.push({ id, a, next, resolve, reject });
      if (!this.attemptWriting) {
        this.attemptWriting = true;
        setImmediate(() => void this.writeAttempts());
      }
    });
  }

  private attemptQueue: PendingAttempt[] = [];
  private attemptWriting = false;

  private async writeAttempts(): Promise<void> {
    while (this.attemptQueue.length > 0) {
      const batch = this.attemptQueue.splice(0, CHUNK);
      try {
        const applied = await this.writeAttemptBatch(batch);
        if (batch.some((p) => p.next.ledger?.length)) this.opts.onLedgerOutbox?.();
        for (const p of batch) p.resolve(applied.has(p.id));
      } catch (err) {
        if (batch.length > 1 && refusedOr(err) instanceof RecordRefusedError) {
          // One step's data is refused: the others of the group are recorded one by one, not failed with it.
          for (const p of batch)
            try {
              const applied = await this.writeAttemptBatch([p]);
              if (p.next.ledger?.length) this.opts.onLedgerOutbox?.();
              p.resolve(applied.has(p.id));
            } catch (one) {
              p.reject(refusedOr(one));
            }
        } else for (const p of batch) p.reject(refusedOr(err));
      }
    }
    this.attemptWriting = false;
  }

  private async writeAttemptBatch(batch: PendingAttempt[]): Promise<Set<string>> {
    const col = <T>(f: (p: PendingAttempt) => T) => batch.map(f);
    // Timestamps travel as ISO strings and become UTC `timestamp(3)`, as Prisma stores DateTime.
    const now = Prisma.sql`(${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
    // Per step: its attempt records alone (kept whatever the claim) and all its records (when the state applies).
    const ledger = batch
      .filter((p) => p.next.ledger?.length)
      .map((p) => {
        const attempts = p.next.ledger!.filter((r) => r.kind === 'attempt');
        return {
          id: p.id,
          attempts: attempts.length > 0 ? JSON.stringify(attempts) : null,
          all: JSON.stringify(p.next.ledger),
        };
      });
    const lcol = <T>(f: (p: (typeof ledger)[number]) => T) => ledger.map(f);
    // One statement: the attempts (each once, by attemptId), then for the steps not recorded before, the row's new
    // state (only while the claim is ours: `up`) and the step's ledger records: the attempt records always (as the
    // DeliveryAttempt row), the state records only when applied. A step recorded before (`again`: its earlier write
    // committed after all) writes nothing; it counts as applied when the row holds its status (read afterwards).
    const rows = await this.prisma.$queryRaw<{ id: string; again: boolean }[]>`
      WITH v AS (
        SELECT * FROM unnest(${col((p) => p.id)}::uuid[], ${col((p) => p.next.claimedBy)}::text[], ${col((p) => p.next.status)}::text[],
          ${col((p) => iso(p.next.nextAttemptAt))}::timestamptz[], ${col((p) => p.next.reason)}::text[],
          ${col((p) => (p.next.countsAsScheduled && p.a ? 1 : 0))}::int[], ${col((p) => p.a?.statusCode ?? null)}::int[],
          ${col((p) => p.a?.errorCode ?? null)}::text[], ${col((p) => p.a !== null)}::boolean[],
          ${col((p) => p.a?.attemptId ?? null)}::text[], ${col((p) => (p.a ? iso(p.a.attemptedAt) : null))}::timestamptz[],
          ${col((p) => p.a?.source ?? null)}::text[], ${col((p) => p.a?.durationMs ?? null)}::int[],
          ${col((p) => p.a?.responseSnippet ?? null)}::text[])
          AS v(id, claimed_by, status, next_at, reason, inc, status_code, error_code, tried, attempt_id, at, source,
               duration_ms, snippet)
      ),
      ins AS (
        INSERT INTO "DeliveryAttempt" ("failedEventId", "attemptedAt", "source", "statusCode", "errorCode", "durationMs", "responseSnippet", "attemptId")
        SELECT v.id, (v.at AT TIME ZONE 'UTC'), v.source, v.status_code, v.error_code, v.duration_ms, v.snippet, v.attempt_id
        FROM v WHERE v.tried
        ON CONFLICT ("attemptId") DO NOTHING
        RETURNING "attemptId"
      ),
      again AS (
        SELECT v.id, v.status FROM v
        WHERE v.attempt_id IS NOT NULL AND v.attempt_id NOT IN (SELECT "attemptId" FROM ins WHERE "attemptId" IS NOT NULL)
      ),
      up AS (
        UPDATE "FailedEvent" f SET
          "status" = v.status,
          "nextAttemptAt" = (v.next_at AT TIME ZONE 'UTC'),
          "reason" = v.reason,
          "attempts" = f."attempts" + v.inc,
          "lastStatusCode" = CASE WHEN v.tried THEN v.status_code ELSE f."lastStatusCode" END,
          "lastErrorCode" = CASE WHEN v.tried THEN v.error_code ELSE f."lastErrorCode" END,
          "resolvedAt" = CASE WHEN v.status IN ('DELIVERED', 'REPLAYED', 'SKIPPED') THEN ${now} ELSE NULL END,
          "claimedBy" = NULL,
          "claimedUntil" = NULL,
          "updatedAt" = ${now}
        FROM v
        WHERE f."id" = v.id AND f."claimedBy" = v.claimed_by AND v.id NOT IN (SELECT id FROM again)
        RETURNING f."id"
      ),
      outbox AS (
        INSERT INTO "LedgerOutbox" ("records")
        SELECT CASE WHEN up."id" IS NULL THEN l.attempts ELSE l.recs END
        FROM unnest(${lcol((p) => p.id)}::uuid[], ${lcol((p) => p.attempts)}::text[], ${lcol((p) => p.all)}::text[])
          AS l(id, attempts, recs)
        LEFT JOIN up ON up."id" = l.id
        WHERE (up."id" IS NOT NULL OR l.attempts IS NOT NULL) AND l.id NOT IN (SELECT id FROM again)
      )
      SELECT "id"::text AS id, false AS again FROM up
      UNION ALL
      SELECT "id"::text, true FROM again`;
    const applied = new Set(rows.filter((r) => !r.again).map((r) => r.id));
    const again = rows.filter((r) => r.again);
    if (again.length > 0) {
      // Read after the statement, not in its snapshot: the earlier write it found may have committed while this
      // statement waited on its attempt row, and the snapshot would not show its state.
      const wanted = new Map(batch.map((p) => [p.id, p.next.status]));
      const now = await this.prisma.$queryRaw<{ id: string; status: string }[]>`
        SELECT "id"::text AS id, "status" FROM "FailedEvent" WHERE "id" = ANY(${again.map((r) => r.id)}::uuid[])`;
      for (const r of now) if (wanted.get(r.id) === r.status) applied.add(r.id);
    }
    return applied;
  }

  async get(id: string) {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const row = await this.prisma.failedEvent.findUnique({
      where: { id },
      include: { deliveryAttempts: { orderBy: { id: 'asc' } } },
    });
    if (!row) return undefined;
    const { deliveryAttempts, ...rest } = row;
    return {
      ...toStored(rest),
      attemptsLog: deliveryAttempts.map((d) => ({
        attemptedAt: d.attemptedAt,
        source: d.source as AttemptRecord['source'],
        statusCode: d.statusCode,
        errorCode: d.errorCode,
        durationMs: d.durationMs,
        responseSnippet: d.responseSnippet,
      })),
    };
  }

  async list(filter: FailureFilter, limit: number, cursor?: string) {
    // Newest first; the cursor is the last item's (createdAt, id). The route has validated it.
    let cursorWhere: Prisma.FailedEventWhereInput = {};
    const c = cursor ? decodeCursor(cursor) : undefined;
    if (cursor && !c) throw new Error('invalid cursor');
    if (c) cursorWhere = { OR: [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }] };
    const rows = await this.prisma.failedEvent.findMany({
      where: { AND: [where(filter), cursorWhere] },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit + 1,
    });
    const items = rows.slice(0, limit).map(toStored);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    };
  }

  count(filter: FailureFilter): Promise<number> {
    return this.prisma.failedEvent.count({ where: where(filter) });
  }

  async ids(filter: FailureFilter, afterId: string | undefined, limit: number): Promise<string[]> {
    const rows = await this.prisma.failedEvent.findMany({
      where: { AND: [where(filter), afterId ? { id: { gt: afterId } } : {}] },
      orderBy: { id: 'asc' },
      take: limit,
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  async stats(tenantId?: string) {
    const groups = await this.prisma.failedEvent.groupBy({
      by: ['status'],
      where: { tenantId },
      _count: { _all: true },
    });
    const oldest = await this.prisma.failedEvent.findFirst({
      where: { tenantId, status: { in: UNRESOLVED } },
      orderBy: { firstFailedAt: 'asc' },
      select: { firstFailedAt: true },
    });
    const byStatus: Record<string, number> = {
      PENDING: 0,
      RETRYING: 0,
      HELD: 0,
      DELIVERED: 0,
      FAILED: 0,
      REPLAYED: 0,
      SKIPPED: 0,
    };
    for (const g of groups) byStatus[g.status] = g._count._all;
    return {
      byStatus,
      oldestUnresolvedAgeSeconds: oldest
        ? Math.max(0, Math.round((Date.now() - oldest.firstFailedAt.getTime()) / 1000))
        : null,
    };
  }

  async deleteResolvedBefore(before: Date): Promise<number> {
    const r = await this.prisma.failedEvent.deleteMany({
      where: { status: { in: ['DELIVERED', 'REPLAYED', 'SKIPPED'] }, resolvedAt: { lt: before } },
    });
    return r.count;
  }

  async blockedLanes(): Promise<LaneKey[]> {
    return this.prisma.$queryRaw<LaneKey[]>`
      SELECT DISTINCT "subscriptionId", "tenantId" FROM "FailedEvent"
      WHERE "ordered" AND "status" IN ('PENDING', 'RETRYING', 'HELD')`;
  }

  async laneBlocked(lane: LaneKey): Promise<boolean> {
    const rows = await this.prisma.$queryRaw<unknown[]>`
      SELECT 1 FROM "FailedEvent" WHERE "ordered" AND "subscriptionId" = ${lane.subscriptionId}
        AND "tenantId" = ${lane.tenantId} AND "status" IN ('PENDING', 'RETRYING', 'HELD') LIMIT 1`;
    return rows.length > 0;
  }

  async lanes(filter: { tenantId?: string; subscriptionId?: string }, limit: number): Promise<LaneView[]> {
    const heads = await this.prisma.$queryRaw<(Row & { waiting: bigint })[]>`
      SELECT DISTINCT ON ("subscriptionId", "tenantId") *,
        count(*) OVER (PARTITION BY "subscriptionId", "tenantId") AS waiting
      FROM "FailedEvent"
      WHERE "ordered" AND "status" IN ('PENDING', 'RETRYING', 'HELD')
        AND (${filter.tenantId ?? null}::text IS NULL OR "tenantId" = ${filter.tenantId ?? null})
        AND (${filter.subscriptionId ?? null}::text IS NULL OR "subscriptionId" = ${filter.subscriptionId ?? null})
      ORDER BY "subscriptionId", "tenantId", "laneSeq", "createdAt", "id"
      LIMIT ${limit}`;
    return heads.map(({ waiting, ...head }) => ({
      subscriptionId: head.subscriptionId,
      tenantId: head.tenantId,
      waiting: Number(waiting),
      head: toStored(head as Row),
    }));
  }

  async releaseLaneHead(lane: LaneKey, action: 'SKIP' | 'FAIL', reason: string): Promise<StoredFailure | undefined> {
    const [view] = await this.lanes(lane, 1);
    if (!view) return undefined;
    const status = action === 'SKIP' ? 'SKIPPED' : 'FAILED';
    let released: Row | undefined;
    await this.changeRows(async (db) => {
      const rows = await db.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "status" = ${status}, "reason" = ${reason}, "nextAttemptAt" = NULL,
        "resolvedAt" = CASE WHEN ${status} = 'SKIPPED' THEN now() AT TIME ZONE 'UTC' END, "claimedBy" = NULL,
        "claimedUntil" = NULL, "updatedAt" = now()
      WHERE "id" = ${view.head.id}::uuid AND "status" IN ('PENDING', 'RETRYING', 'HELD')
      RETURNING *`;
      released = rows[0];
      return rows;
    });
    return released ? toStored(released) : undefined;
  }

  async heldSubscriptions(): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ subscriptionId: string }[]>`
      SELECT DISTINCT "subscriptionId" FROM "FailedEvent" WHERE "status" = 'HELD'`;
    return rows.map((r) => r.subscriptionId);
  }

  async releaseHeld(subscriptionId: string, laneWaitMs: number): Promise<number> {
    return this.changeRows(
      (db, limit) => db.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "status" = 'PENDING', "nextAttemptAt" = now() AT TIME ZONE 'UTC',
        "reason" = 'released: subscription active', "updatedAt" = now()
      WHERE "id" IN (
        SELECT "id" FROM "FailedEvent"
        WHERE "subscriptionId" = ${subscriptionId} AND "status" = 'HELD'
          AND ("lastErrorCode" IS DISTINCT FROM ${LANE_WAIT}
               OR "updatedAt" < now() - ${`${laneWaitMs} milliseconds`}::interval)
        LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    );
  }

  async releaseLaneWait(lane: LaneKey): Promise<number> {
    return this.changeRows(
      (db, limit) => db.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "status" = 'PENDING', "nextAttemptAt" = now() AT TIME ZONE 'UTC',
        "reason" = 'released: earlier events of its lane parked or delivered', "updatedAt" = now()
      WHERE "id" IN (
        SELECT "id" FROM "FailedEvent"
        WHERE "ordered" AND "subscriptionId" = ${lane.subscriptionId} AND "tenantId" = ${lane.tenantId}
          AND "status" = 'HELD' AND "lastErrorCode" = ${LANE_WAIT}
        LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    );
  }

  async skipUnresolved(subscriptionId: string, reason: string): Promise<number> {
    return this.changeRows(
      (db, limit) => db.$queryRaw<Row[]>`
      UPDATE "FailedEvent" SET "status" = 'SKIPPED', "reason" = ${reason}, "nextAttemptAt" = NULL,
        "resolvedAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now()
      WHERE "id" IN (
        SELECT "id" FROM "FailedEvent"
        WHERE "subscriptionId" = ${subscriptionId} AND "status" IN ('PENDING', 'RETRYING', 'HELD')
          AND ("claimedUntil" IS NULL OR "claimedUntil" < now())
        LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    );
  }

  async pullForward(subscriptionId: string): Promise<number> {
    return this.prisma.$executeRaw`
      UPDATE "FailedEvent" SET "nextAttemptAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now()
      WHERE "subscriptionId" = ${subscriptionId} AND "status" IN ('PENDING', 'RETRYING')
        AND "nextAttemptAt" > now() AT TIME ZONE 'UTC'`;
  }

  async markExhausted(subscriptionId: string, tenantId: string, eventId: string): Promise<void> {
    await this.prisma.$executeRaw`
      INSERT INTO "SubscriptionHealth" ("subscriptionId", "tenantId", "failing", "exhaustedCount", "lastExhaustedAt",
        "lastExhaustedEventId", "updatedAt")
      VALUES (${subscriptionId}, ${tenantId}, true, 1, now() AT TIME ZONE 'UTC', ${eventId}, now())
      ON CONFLICT ("subscriptionId") DO UPDATE SET "failing" = true,
        "exhaustedCount" = "SubscriptionHealth"."exhaustedCount" + 1, "lastExhaustedAt" = EXCLUDED."lastExhaustedAt",
        "lastExhaustedEventId" = EXCLUDED."lastExhaustedEventId", "updatedAt" = now()`;
  }

  async markDelivered(subscriptionId: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE "SubscriptionHealth" SET "failing" = false, "lastDeliveredAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now()
      WHERE "subscriptionId" = ${subscriptionId} AND "failing"`;
  }

  async holdAndHealth() {
    const held = await this.prisma.$queryRaw<{ subscriptionId: string; count: bigint; oldest: Date }[]>`
      SELECT "subscriptionId", count(*) AS count, min("createdAt") AS oldest FROM "FailedEvent"
      WHERE "status" = 'HELD' GROUP BY "subscriptionId"`;
    const failing = await this.prisma.$queryRaw<{ subscriptionId: string }[]>`
      SELECT "subscriptionId" FROM "SubscriptionHealth" WHERE "failing"`;
    const now = Date.now();
    return {
      held: held.map((h) => ({
        subscriptionId: h.subscriptionId,
        count: Number(h.count),
        oldestAgeSeconds: Math.max(0, Math.round((now - h.oldest.getTime()) / 1000)),
      })),
      failing: failing.map((f) => f.subscriptionId),
    };
  }
}
