/**
 * The ledger writer's store port and the pure parts of a write: UTC day partitions and a batch's rows, de-duplicated
 * and in lock order.
 *
 *   records ─ prepareBatch ─▶ events (one per (eventId, receivedAt)), attempts (one per (attemptId, receivedAt)),
 *   deliveries (one per (eventId, subscriptionId, receivedAt): the PENDING row an event fans out to, or the latest
 *   delivery record of the batch; its attempt count grows by its attempt rows that are inserted), each sorted by
 *   its primary key.
 *
 * Lock order: ledger bundles are unkeyed, so the same deliveries reach concurrent writer transactions (two partitions,
 * two instances) in any order and mix. Every transaction writes the tables in one order (events, attempts,
 * deliveries) and each table's rows in one sorted list, so all take their row locks in one global order and cannot
 * wait on each other in a cycle (deadlock, 40P01). A table's rows split over statements by kind breaks it: the
 * deadlocks seen in CI (reproduced by test/dlt-processor/ledger-store-concurrency.int.test.ts) came from delivery
 * rows written in three sorted runs (PENDING rows, rows with a delivery record, rows with attempts only), so one
 * transaction could lock B before A and another A before B.
 *
 * Timestamps are normalised to ISO with milliseconds (`timestamp(3)`, UTC), so the same instant written as
 * `+00:00` by one process and `Z` by another is the same key, and the day a record's partition is chosen from is
 * the day Postgres files it under.
 */
import type { LedgerAttempt, LedgerDelivery, LedgerEvent, LedgerRecord } from './ledger-record';

type InlineAttempt = Omit<LedgerAttempt, 'kind' | 'eventId' | 'tenantId' | 'subscriptionId' | 'receivedAt'>;

export const LEDGER_TABLES = ['LedgerEvent', 'LedgerDelivery', 'LedgerAttempt'] as const;
export type LedgerTable = (typeof LEDGER_TABLES)[number];

/** Rows a write added or changed, per table. */
export type LedgerWriteCounts = Record<LedgerTable, number>;

export interface LedgerWriterStore {
  /** Writes a batch in one transaction (creating its days' partitions first); idempotent under redelivery. */
  write(records: LedgerRecord[]): Promise<LedgerWriteCounts>;
  /** Creates the three partitions of each day (`YYYY-MM-DD`, UTC) unless they exist. */
  ensureDays(days: string[]): Promise<void>;
  /** Drops the day partitions of all three tables older than `day` (`YYYY-MM-DD` or a Date's UTC day); the days dropped. */
  dropPartitionsBefore(day: string | Date): Promise<string[]>;
  ping(): Promise<void>;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** `toISOString()`'s form: UTC with milliseconds. */
const ISO_MS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(d: Date | string): string {
  if (typeof d === 'string' && ISO_MS_Z.test(d)) return d.slice(0, 10);
  const iso = (typeof d === 'string' ? new Date(d) : d).toISOString();
  return iso.slice(0, 10);
}

/** The day after `day` (`YYYY-MM-DD`). */
export function nextDay(day: string): string {
  return utcDay(new Date(Date.parse(`${assertDay(day)}T00:00:00.000Z`) + DAY_MS));
}

function assertDay(day: string): string {
  const t = Date.parse(`${day}T00:00:00.000Z`);
  if (!DAY.test(day) || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== day)
    throw new Error(`not a day: ${day}`);
  return day;
}

/** Today's and tomorrow's day (UTC): made at start, so the first records of a new day find their partitions. */
export function startDays(now = new Date()): string[] {
  const today = utcDay(now);
  return [today, nextDay(today)];
}

/** `LedgerEvent_20261201`: the partition of `table` holding `day`. */
export function partitionName(table: LedgerTable, day: string): string {
  return `${table}_${assertDay(day).replaceAll('-', '')}`;
}

/** The day a partition of `table` holds, from its name; undefined for any other table. */
export function dayOfPartition(table: LedgerTable, name: string): string | undefined {
  const m = new RegExp(`^${table}_(\\d{4})(\\d{2})(\\d{2})$`).exec(name);
  if (!m) return undefined;
  const day = `${m[1]}-${m[2]}-${m[3]}`;
  const t = Date.parse(`${day}T00:00:00.000Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === day ? day : undefined;
}

/** The statement creating one day partition; `day` is checked, so the identifiers are safe to inline. */
export function createPartitionSql(table: LedgerTable, day: string): string {
  return `CREATE TABLE IF NOT EXISTS "${partitionName(table, day)}" PARTITION OF "${table}" FOR VALUES FROM ('${day}') TO ('${nextDay(day)}')`;
}

/** The distinct UTC days of the records' `receivedAt`, ascending. */
export function daysOf(records: LedgerRecord[]): string[] {
  return [...new Set(records.map((r) => utcDay(r.receivedAt)))].sort();
}

/** The first day kept by a retention of `retentionDays`: a day partition before it holds only older rows. */
export function retentionCutoff(now: Date, retentionDays: number): string {
  return utcDay(new Date(now.getTime() - retentionDays * DAY_MS));
}

export type Admissible = { ok: true } | { ok: false; expired: true } | { ok: false; expired: false; reason: string };

/**
 * Whether the writer should write a record now: `expired` when its day is past retention (it would be dropped
 * within the hour, and writing it would bring a dropped day back), `invalid` (with the reason) when its
 * `receivedAt` is more than a day ahead of this clock (it would make partitions for days that have not come) or
 * outside what Postgres stores. One check per batch: the cut-off is computed once, for every record it is asked about.
 */
export function admissibility(now: Date, retentionDays: number): (r: LedgerRecord) => Admissible {
  const cutoffMs = Date.parse(`${retentionCutoff(now, retentionDays)}T00:00:00.000Z`);
  const aheadMs = now.getTime() + DAY_MS;
  return (r) => {
    const at = Date.parse(r.receivedAt);
    const year = new Date(at).getUTCFullYear();
    if (year < 1970 || year > 9999)
      return { ok: false, expired: false, reason: `receivedAt out of range: ${r.receivedAt}` };
    if (at > aheadMs) return { ok: false, expired: false, reason: `receivedAt more than a day ahead: ${r.receivedAt}` };
    if (at < cutoffMs) return { ok: false, expired: true };
    return { ok: true };
  };
}

/** ISO with milliseconds, UTC; what the processors write (`toISOString()`) passes as it is, without a Date. */
const msIso = (s: string) => (ISO_MS_Z.test(s) ? s : new Date(s).toISOString());

export interface DeliveryKey {
  eventId: string;
  subscriptionId: string;
  receivedAt: string;
}
export type PreparedEvent = LedgerEvent & { fanOut: number };
/** One delivery a batch touches: its latest delivery record, if the batch holds one (else a PENDING row). */
export interface PreparedDelivery extends DeliveryKey {
  /** deliveryKeyOf(this) */
  key: string;
  tenantId: string;
  /** The latest delivery record of the batch (ties: the later in the batch). */
  delivery?: LedgerDelivery;
}
/** A batch's rows, one per primary key, each table's sorted by it (the order its rows are locked in). */
export interface PreparedBatch {
  /** By (eventId, receivedAt). */
  events: PreparedEvent[];
  /** By (attemptId, receivedAt); each counts towards its delivery (which is in `deliveries`) once inserted. */
  attempts: LedgerAttempt[];
  /**
   * By (eventId, subscriptionId, receivedAt): every delivery the batch touches, in one list whatever made it (an
   * event's fan-out, an attempt, a delivery record).
   */
  deliveries: PreparedDelivery[];
}

/**
 * Whether a written delivery row is one whose key a store should remember for `prepareBatch`'s `written`: a state
 * past PENDING. Its event's PENDING proposal may still come (after a saturation run it does, long after); a PENDING
 * row's outcome is still to come and is written whatever the memory says, and its event's proposal came with it or
 * before. So remembering PENDING rows would only double the memory's keys and work.
 */
export const rememberedAsWritten = (d: PreparedDelivery): boolean =>
  d.delivery !== undefined && d.delivery.status !== 'PENDING';
/** A delivery's key as one string: distinct keys, distinct strings (Postgres text holds no NUL). */
export const deliveryKeyOf = (k: DeliveryKey) => `${k.eventId}\u0000${k.subscriptionId}\u0000${k.receivedAt}`;
/** An attempt's key; the id in lower case, as Postgres compares uuids. */
const attemptKeyOf = (a: LedgerAttempt) => `${a.attemptId.toLowerCase()}\u0000${a.receivedAt}`;
/** A map's values in the order of its keys (the keys are computed once, not per comparison). */
const sortedByKey = <T>(m: Map<string, T>): T[] => [...m.keys()].sort().map((k) => m.get(k) as T);

/**
 * An attempt row: one literal of a fixed shape, for an attempt record or one carried by a delivery record (rows
 * built by spreading are objects V8 keeps in dictionary mode, slower to build and to read; prepareBatch was 17 µs per
 * delivery with them, BENCHMARKS.md 2026-12-02, 16:25 section).
 */
function attemptRow(
  t: InlineAttempt,
  at: string,
  eventId: string,
  tenantId: string,
  subscriptionId: string,
  receivedAt: string,
): LedgerAttempt {
  return {
    kind: 'attempt',
    at,
    attemptId: t.attemptId,
    eventId,
    tenantId,
    subscriptionId,
    receivedAt,
    source: t.source,
    attempt: t.attempt,
    durationMs: t.durationMs,
    statusCode: t.statusCode,
    errorCode: t.errorCode,
    responseSnippet: t.responseSnippet,
  };
}

/**
 * A batch's rows: normalised timestamps, one row per key (a redelivered record in the same batch is written once;
 * one statement cannot touch a row twice), each table's rows sorted by key so concurrent writers lock rows in the
 * same order (see the top of this file).
 *
 * `written`: delivery keys whose row is known to be in Postgres (committed by this writer). A delivery the batch
 * only proposes as PENDING (an event's fan-out, a PENDING delivery record, no attempt) changes nothing on a row that
 * exists, so it is left out for those keys: after a saturation run the writer's backlog is the events, whose
 * deliveries' outcomes it wrote long before, and each such proposal cost Postgres a no-op upsert (a unique-index probe
 * and a row lock, ~5 µs; BENCHMARKS.md, 2026-12-02, 12:30 section).
 */
export function prepareBatch(
  records: LedgerRecord[],
  opts: { written?: (deliveryKey: string) => boolean } = {},
): PreparedBatch {
  const events = new Map<string, PreparedEvent>();
  const attempts = new Map<string, LedgerAttempt>();
  const deliveries = new Map<string, PreparedDelivery>();
  /** Deliveries the batch says more about than PENDING: an attempt, or a delivery record of another status. */
  const news = new Set<string>();
  const deliveryOf = (k: DeliveryKey, tenantId: string): PreparedDelivery => {
    const key = deliveryKeyOf(k);
    let d = deliveries.get(key);
    if (!d) {
      d = { key, eventId: k.eventId, subscriptionId: k.subscriptionId, receivedAt: k.receivedAt, tenantId };
      deliveries.set(key, d);
    }
    return d;
  };
  const addAttempt = (a: LedgerAttempt) => {
    const key = attemptKeyOf(a);
    if (attempts.has(key)) return;
    attempts.set(key, a);
    news.add(deliveryOf(a, a.tenantId).key);
  };
  for (const rec of records) {
    const receivedAt = msIso(rec.receivedAt);
    const at = msIso(rec.at);
    if (rec.kind === 'event') {
      const key = `${rec.eventId}\u0000${receivedAt}`;
      if (events.has(key)) continue;
      events.set(key, {
        kind: 'event',
        at,
        eventId: rec.eventId,
        tenantId: rec.tenantId,
        type: rec.type,
        source: rec.source,
        subject: rec.subject,
        match: rec.match,
        domain: rec.domain,
        traceId: rec.traceId,
        receivedAt,
        ingest: rec.ingest,
        subscriptionIds: rec.subscriptionIds,
        fanOut: rec.fanOut ?? rec.subscriptionIds.length,
        payload: rec.payload,
      });
      // One PENDING row per subscription, unless the batch has more to say about the delivery (one row either way:
      // one write instead of two when the event and its outcome arrive together, as at saturation).
      for (const subscriptionId of rec.subscriptionIds)
        deliveryOf({ eventId: rec.eventId, subscriptionId, receivedAt }, rec.tenantId);
    } else if (rec.kind === 'attempt') {
      addAttempt(attemptRow(rec, at, rec.eventId, rec.tenantId, rec.subscriptionId, receivedAt));
    } else {
      for (const t of rec.tries ?? [])
        addAttempt(attemptRow(t, msIso(t.at), rec.eventId, rec.tenantId, rec.subscriptionId, receivedAt));
      const d: LedgerDelivery = {
        kind: 'delivery',
        at,
        eventId: rec.eventId,
        tenantId: rec.tenantId,
        subscriptionId: rec.subscriptionId,
        receivedAt,
        status: rec.status,
        reason: rec.reason,
        attempts: rec.attempts,
        lastStatusCode: rec.lastStatusCode,
        nextAttemptAt: rec.nextAttemptAt === null ? null : msIso(rec.nextAttemptAt),
        traceId: rec.traceId,
        tries: rec.tries,
      };
      const row = deliveryOf(d, d.tenantId);
      if (d.status !== 'PENDING') news.add(row.key);
      if (!row.delivery || Date.parse(d.at) >= Date.parse(row.delivery.at)) row.delivery = d;
    }
  }
  const written = opts.written;
  if (written) for (const [key] of deliveries) if (!news.has(key) && written(key)) deliveries.delete(key);
  return { events: sortedByKey(events), attempts: sortedByKey(attempts), deliveries: sortedByKey(deliveries) };
}
