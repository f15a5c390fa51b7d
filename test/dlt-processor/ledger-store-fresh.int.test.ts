/**
 * The ledger store writes a batch's events and attempts with plain INSERTs first (cheaper for Postgres than ON
 * CONFLICT), and a batch that holds a row already written (a redelivery) is rolled back and written again
 * idempotently, as are the batches after it until one finds every row new (ledger-store.pg.ts).
 *
 * Observed on a real Postgres: the rows and the counts are those of an idempotent write whatever the way, and the
 * statements the store sends (recorded on its connections) show which way each batch went.
 */
import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import type { LedgerEvent, LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { LedgerWriterStorePg } from '../../pipeline/shared/ledger/ledger-store.pg';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { deliveredOutcome } from '../support/ledger-records';

jest.setTimeout(60_000);

const receivedAt = new Date(Date.now() - 60_000).toISOString();

function anEvent(eventId: string): LedgerEvent {
  return {
    kind: 'event',
    at: receivedAt,
    eventId,
    tenantId: 'tenant-f',
    type: 'user.created',
    source: '//identity',
    match: { sourceService: 'identity', eventType: 'user.created', resourceType: 'user', operationType: 'create' },
    domain: 'user-lifecycle',
    receivedAt,
    subscriptionIds: ['sub-a'],
    payload: { headers: { ce_id: eventId }, body: Buffer.from('{}') },
  };
}

/** An event with its first-try success on sub-a. */
const eventAndOutcome = (eventId = randomUUID()): LedgerRecord[] => [
  anEvent(eventId),
  deliveredOutcome({ eventId, tenantId: 'tenant-f', receivedAt }, 'sub-a'),
];

describe('ledger store: fresh writes first, idempotent ones after a row already written', () => {
  let db: TestDatabase;
  let pool: Pool;
  /** Every statement the store sent, in order. */
  const sent: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    pool.on('connect', (client: PoolClient) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const q = args[0];
        sent.push(typeof q === 'string' ? q : (q as { text: string }).text);
        return query(...args);
      };
    });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** How the statements of the write `fn` makes went: fresh (plain INSERTs), idempotent, or both (in that order). */
  const ways = async <T>(fn: () => Promise<T>): Promise<{ result: T; ways: string[] }> => {
    const from = sent.length;
    const result = await fn();
    const inserts = sent.slice(from).filter((t) => /INSERT INTO "Ledger(Event|Attempt)"/.test(t));
    const out: string[] = [];
    for (const t of inserts) {
      const way = /ON CONFLICT \("(eventId|attemptId)", "receivedAt"\) DO NOTHING/.test(t) ? 'idempotent' : 'fresh';
      if (out.at(-1) !== way) out.push(way);
    }
    return { result, ways: out };
  };
  const rowsOf = async (eventId: string) => {
    const q = (sql: string) => db.pool().query<{ n: number }>(sql, [eventId]);
    const [events, attempts, deliveries] = await Promise.all([
      q('SELECT count(*)::int AS n FROM "LedgerEvent" WHERE "eventId" = $1'),
      q('SELECT count(*)::int AS n FROM "LedgerAttempt" WHERE "eventId" = $1'),
      q('SELECT attempts AS n FROM "LedgerDelivery" WHERE "eventId" = $1'),
    ]);
    return { events: events.rows[0]!.n, attempts: attempts.rows[0]!.n, deliveryAttempts: deliveries.rows[0]?.n };
  };

  it('writes new rows with plain INSERTs, a redelivered batch idempotently, and goes back once a batch is all new', async () => {
    const store = new LedgerWriterStorePg(pool);
    const first = eventAndOutcome();
    const e1 = (first[0] as LedgerEvent).eventId;

    const a = await ways(() => store.write(first));
    expect(a.ways).toEqual(['fresh']);
    expect(a.result).toEqual({ LedgerEvent: 1, LedgerAttempt: 1, LedgerDelivery: 1 });

    // The same records again (a redelivery): the fresh INSERT meets the rows, and the batch is written idempotently.
    const b = await ways(() => store.write(first));
    expect(b.ways).toEqual(['fresh', 'idempotent']);
    expect(b.result).toMatchObject({ LedgerEvent: 0, LedgerAttempt: 0 });
    expect(await rowsOf(e1)).toEqual({ events: 1, attempts: 1, deliveryAttempts: 1 });

    // A batch with a row written before and new ones: idempotent at once (the last batch met a row), new rows in.
    const mixed = [...first, ...eventAndOutcome()];
    const c = await ways(() => store.write(mixed));
    expect(c.ways).toEqual(['idempotent']);
    expect(c.result).toMatchObject({ LedgerEvent: 1, LedgerAttempt: 1 });

    // An all-new batch is still written idempotently (the last one met a row), and finds every row new ...
    const d = await ways(() => store.write(eventAndOutcome()));
    expect(d.ways).toEqual(['idempotent']);
    expect(d.result).toMatchObject({ LedgerEvent: 1, LedgerAttempt: 1 });

    // ... so the next one goes fresh again.
    const next = eventAndOutcome();
    const e = await ways(() => store.write(next));
    expect(e.ways).toEqual(['fresh']);
    expect(await rowsOf((next[0] as LedgerEvent).eventId)).toEqual({ events: 1, attempts: 1, deliveryAttempts: 1 });
    expect(await rowsOf(e1)).toEqual({ events: 1, attempts: 1, deliveryAttempts: 1 });
  });
});
