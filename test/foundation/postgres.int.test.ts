import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { int4Array, textArray } from '../../pipeline/shared/postgres/binary-array';
import { checksum, migrate, migrationsDir } from '../../prisma/migrate';
import { createTestDatabase, databaseUrl, type TestDatabase } from '../support/db';

describe('Postgres through Prisma on a migrated database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('writes and reads a failed event with its delivery attempts', async () => {
    const id = randomUUID();
    await db.prisma.failedEvent.create({
      data: {
        id,
        eventId: 'evt-1',
        subscriptionId: 'sub-1',
        tenantId: 't1',
        domain: 'user-lifecycle',
        ceHeaders: { ce_id: 'evt-1' },
        body: Buffer.from('{"a":1}'),
        failureHeaders: {},
        status: 'PENDING',
        firstFailedAt: new Date(),
        lastFailedAt: new Date(),
        deliveryAttempts: {
          create: [
            { source: 'OUTBOX', statusCode: 503, durationMs: 12 },
            { source: 'SCHEDULED', statusCode: 200, durationMs: 8 },
          ],
        },
      },
    });
    const back = await db.prisma.failedEvent.findUnique({
      where: { id },
      include: { deliveryAttempts: { orderBy: { id: 'asc' } } },
    });
    expect(Buffer.from(back!.body).toString()).toBe('{"a":1}');
    expect(back!.deliveryAttempts.map((a) => a.statusCode)).toEqual([503, 200]);
    await expect(
      db.prisma.failedEvent.create({
        data: { ...back!, id: randomUUID(), deliveryAttempts: undefined, ceHeaders: {}, failureHeaders: {} } as never,
      }),
    ).rejects.toThrow(/Unique constraint/);
  });

  it('applies migrations once: a second run changes nothing', async () => {
    const before = await db.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM "_prisma_migrations"`;
    expect(await migrate(db.url)).toEqual({ applied: [] });
    const after = await db.prisma.$queryRaw<
      { n: bigint; sum: string }[]
    >`SELECT count(*) AS n, max(checksum) AS sum FROM "_prisma_migrations"`;
    expect(after[0]!.n).toBe(before[0]!.n);
    // Recorded with Prisma's checksum (SHA-256 of the file) so `prisma migrate deploy` agrees.
    const { readFileSync } = await import('node:fs');
    const sums = await db.prisma.$queryRaw<{ name: string; sum: string }[]>`
      SELECT migration_name AS name, checksum AS sum FROM "_prisma_migrations" ORDER BY migration_name`;
    expect(after[0]!.n).toBe(BigInt(sums.length));
    for (const m of sums) expect(m.sum).toBe(checksum(readFileSync(join(migrationsDir(), m.name, 'migration.sql'))));
  });

  it('serialises concurrent migrators on the advisory lock', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      const results = await Promise.all([migrate(fresh.url), migrate(fresh.url), migrate(fresh.url)]);
      // One migrator applies every migration; the others find nothing left to do.
      const all = readdirSync(migrationsDir(), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, all]);
    } finally {
      await fresh.drop();
    }
  });

  it('refuses a migration whose file changed after it was applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(migrationsDir(), dir, { recursive: true });
    writeFileSync(join(dir, '20261123000000_init', 'migration.sql'), '-- edited\nSELECT 1;');
    await expect(migrate(db.url, { dir })).rejects.toThrow(/changed after it was applied/);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query('SELECT count(*)::int AS n FROM "FailedEvent"');
    await c.end();
    expect(rows[0].n).toBe(1);
  });
});

describe('binary array parameters (pipeline/shared/postgres/binary-array.ts) on a real Postgres', () => {
  it('arrive as the values they were built from', async () => {
    const c = new Client({ connectionString: databaseUrl('postgres') });
    await c.connect();
    try {
      const texts = ['', 'a "quoted" \\ back,slash {braces}', null, 'é ü 日本 🎉', 'x'.repeat(100_000), 'NULL'];
      const ints = [0, -2147483648, 2147483647, null, 42];
      const { rows } = await c.query<{ t: (string | null)[]; i: (number | null)[]; n: number; e: string[] }>(
        'SELECT $1::text[] AS t, $2::int[] AS i, cardinality($1::text[]) AS n, $3::text[] AS e',
        [textArray(texts), int4Array(ints), textArray([])],
      );
      expect(rows[0]!.t).toEqual(texts);
      expect(rows[0]!.i).toEqual(ints);
      expect(rows[0]!.n).toBe(texts.length);
      expect(rows[0]!.e).toEqual([]);
    } finally {
      await c.end();
    }
  });
});
