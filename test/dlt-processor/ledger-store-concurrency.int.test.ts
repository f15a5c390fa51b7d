/**
 * The ledger store under concurrent writers, on a fresh database (no broker needed): ledger bundles are unkeyed, so
 * one delivery's event record (event-processor) and its outcome (outbox-processor) often sit in two partitions that
 * the writer stores at the same time. Two batches over the same deliveries, each holding for some of them the event
 * (a PENDING row), for others the outcome with its attempt (an upsert) or a lone attempt (some in both batches, as
 * a redelivered bundle), are written concurrently again and again: every row lands once with the right status and
 * attempt count, and no transaction deadlocks – not even one the store would have retried (its retry logs at info;
 * the test counts those lines). Without the store's lock order this fails within the first rounds (40P01).
 */
import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import pino from 'pino';
import { errorMessage } from '../../pipeline/shared/errors';
import type { LedgerAttempt, LedgerEvent, LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { waitFor } from '../support/kafka';
import { deliveredOutcome as anOutcome } from '../support/ledger-records';

jest.setTimeout(120_000);

const ROUNDS = 15;
/** Events per round, each fanned out to SUBSCRIPTIONS deliveries: a few chunks' worth of rows per batch. */
const EVENTS = 150;
const SUBSCRIPTIONS = 4;

const iso = (ms: number) => new Date(ms).toISOString();

function anEvent(receivedAtMs: number): LedgerEvent {
  return {
    kind: 'event',
    at: iso(receivedAtMs + 1),
    eventId: randomUUID(),
    tenantId: 'tenant-c',
    type: 'user.created',
    source: '//identity',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
    domain: 'user-lifecycle',
    receivedAt: iso(receivedAtMs),
    subscriptionIds: Array.from({ length: SUBSCRIPTIONS }, (_, i) => `sub-${i}`),
    payload: { headers: { ce_id: 'x' }, body: Buffer.from('{}').toString('base64') },
  };
}

/** A lone attempt record (a scheduled retry's, as the dlt-processor emits them). */
function anAttempt(e: LedgerEvent, subscriptionId: string, atMs: number): LedgerAttempt {
  return {
    kind: 'attempt',
    at: iso(atMs),
    attemptId: randomUUID(),
    eventId: e.eventId,
    tenantId: e.tenantId,
    subscriptionId,
    receivedAt: e.receivedAt,
    source: 'SCHEDULED',
    attempt: 1,
    durationMs: 4,
    statusCode: 503,
    errorCode: 'DELIVERY.HTTP_503',
    responseSnippet: null,
  };
}

describe('ledger store, concurrent writers', () => {
  let db: TestDatabase;
  let store: LedgerWriterStorePg;
  /** The store's log lines at debug and above (a deadlock it retried is one of them). */
  const lines: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    store = new LedgerWriterStorePg(db.pool(), { log });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('writes two batches over the same deliveries at once, again and again, without a deadlock', async () => {
    const expected = new Map<string, number>(); // `${eventId}/${subscriptionId}` -> attempts
    const eventIds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = Date.now() - 60_000;
      const a: LedgerRecord[] = [];
      const b: LedgerRecord[] = [];
      for (let i = 0; i < EVENTS; i++) {
        const e = anEvent(t0 + i);
        eventIds.push(e.eventId);
        // The event in one batch, its outcomes in the other; every third delivery also has a lone attempt beside
        // the event. The event ids are random, so in key order the kinds of row each batch writes interleave.
        const [withEvent, withOutcomes] = i % 2 === 0 ? [a, b] : [b, a];
        withEvent.push(e);
        e.subscriptionIds.forEach((s, j) => {
          withOutcomes.push(anOutcome(e, s, t0 + 1000 + i));
          let n = 1;
          if ((i + j) % 3 === 0) {
            const lone = anAttempt(e, s, t0 + 500 + i);
            withEvent.push(lone);
            // Some of them redelivered in the other partition too: written (and counted) once.
            if (j === 0) withOutcomes.push(lone);
            n++;
          }
          expected.set(`${e.eventId}/${s}`, n);
        });
      }
      // One batch in the order it was made, the other reversed.
      const settled = await Promise.allSettled([store.write(a), store.write(b.reverse())]);
      const failed = settled.flatMap((r) =>
        r.status === 'rejected' ? [`round ${round}: ${errorMessage(r.reason)}`] : [],
      );
      expect(failed).toEqual([]);
    }

    const deadlocks = lines.filter((l) => /deadlock/i.test(l.msg));
    expect(deadlocks).toEqual([]);

    const rows = await db.prisma.ledgerDelivery.findMany({ where: { eventId: { in: eventIds } } });
    expect(rows).toHaveLength(ROUNDS * EVENTS * SUBSCRIPTIONS);
    const wrong = rows.filter(
      (r) => r.status !== 'DELIVERED' || r.attempts !== expected.get(`${r.eventId}/${r.subscriptionId}`),
    );
    expect(wrong).toEqual([]);
    const attempts = [...expected.values()].reduce((s, n) => s + n, 0);
    expect(await db.prisma.ledgerAttempt.count({ where: { eventId: { in: eventIds } } })).toBe(attempts);
    expect(await db.prisma.ledgerEvent.count({ where: { eventId: { in: eventIds }, fanOut: SUBSCRIPTIONS } })).toBe(
      ROUNDS * EVENTS,
    );
  });

  it('retries a write Postgres aborted as a deadlock (one the lock order cannot prevent: another client in it)', async () => {
    const e = anEvent(Date.now() - 30_000);
    await store.write([e]);
    const [first, second] = e.subscriptionIds.sort();
    // The store's sessions detect the deadlock (their deadlock_timeout, 2 s, runs out first), so its transaction is
    // the one Postgres aborts; 2 s leaves the test time to close the cycle before the check.
    await db.prisma.$executeRawUnsafe(`ALTER DATABASE "${db.name}" SET deadlock_timeout = '2s'`);
    // New sessions, which take the database's deadlock_timeout set above.
    const pool = new Pool({ connectionString: db.url, max: 2 });
    const retried: { level: number; msg: string }[] = [];
    const victim = new LedgerWriterStorePg(pool, {
      log: pino({ level: 'debug' }, { write: (s: string) => retried.push(JSON.parse(s)) }),
    });
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query(`SET deadlock_timeout = '60s'`);
      const lock = (subscriptionId: string) =>
        other.query(`SELECT 1 FROM "LedgerDelivery" WHERE "eventId" = $1 AND "subscriptionId" = $2 FOR UPDATE`, [
          e.eventId,
          subscriptionId,
        ]);
      const otherPid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await other.query('BEGIN');
      await lock(second!);
      // The store locks `first`, then waits for `second`.
      const written = victim.write([anOutcome(e, first!, Date.now()), anOutcome(e, second!, Date.now())]);
      await waitFor(
        async () =>
          (
            await db.prisma.$queryRaw<{ n: number }[]>`
              SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE NOT l.granted AND a.datname = current_database() AND l.pid <> ${otherPid}`
          )[0]!.n > 0,
        { what: 'the store waiting for the row the other client holds', intervalMs: 10 },
      );
      // The cycle: the other client now waits for `first`; it gets it once the store's transaction is aborted.
      await lock(first!);
      await other.query('ROLLBACK');
      expect(await written).toEqual({ LedgerEvent: 0, LedgerAttempt: 2, LedgerDelivery: 2 });
    } finally {
      await other.end();
      await pool.end();
    }
    expect(retried.map((l) => [l.level, l.msg])).toEqual([[30, 'ledger write deadlocked; retrying']]);
    const rows = await db.prisma.ledgerDelivery.findMany({
      where: { eventId: e.eventId, subscriptionId: { in: [first!, second!] } },
    });
    expect(rows.map((r) => [r.status, r.attempts])).toEqual([
      ['DELIVERED', 1],
      ['DELIVERED', 1],
    ]);
  });

  it('fails a write whose connection is lost mid-transaction, without crashing the process, and writes the next', async () => {
    const pool = new Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => {});
    const store = new LedgerWriterStorePg(pool);
    const e = anEvent(Date.now() - 30_000);
    await store.write([e]);
    const [sub] = e.subscriptionIds;
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      const otherPid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      // Another client holds the delivery row, so the store's transaction waits inside, on it.
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM "LedgerDelivery" WHERE "eventId" = $1 AND "subscriptionId" = $2 FOR UPDATE`, [
        e.eventId,
        sub,
      ]);
      const outcome = anOutcome(e, sub!, Date.now());
      const written = store.write([outcome]);
      const settled = written.then(
        () => 'written',
        (err: Error) => err.message,
      );
      let waiting: number | undefined;
      await waitFor(
        async () => {
          const { rows } = await other.query<{ pid: number }>(
            `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE NOT l.granted AND a.datname = current_database() AND l.pid <> $1`,
            [otherPid],
          );
          waiting = rows[0]?.pid;
          return waiting !== undefined;
        },
        { what: "the store's transaction waiting on the row", intervalMs: 10 },
      );
      // Postgres ends that backend: node-postgres fails the statement and emits 'error' on the checked-out client.
      await other.query('SELECT pg_terminate_backend($1)', [waiting]);
      expect(await settled).toMatch(/terminat/i);
      await other.query('ROLLBACK');
      // The lost connection was destroyed, not returned to the pool: the same batch is written on a new one.
      expect(await store.write([outcome])).toMatchObject({ LedgerAttempt: 1, LedgerDelivery: 1 });
      const row = await db.prisma.ledgerDelivery.findFirst({ where: { eventId: e.eventId, subscriptionId: sub } });
      expect([row?.status, row?.attempts]).toEqual(['DELIVERED', 1]);
    } finally {
      await other.end();
      await pool.end();
    }
  });
});
