/**
 * The project's migrator: applies prisma/migrations/<ts>_<name>/migration.sql in name order under a Postgres
 * advisory lock, each in its own transaction, and records them in `_prisma_migrations` the way
 * `prisma migrate deploy` does (same table, same columns, checksum = SHA-256 hex of the file), so either tool can
 * take over from the other. Idempotent; refuses a migration whose file changed after it was applied.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

const LOCK_KEY = 72707369; // same number Prisma uses for its migrate advisory lock

export function migrationsDir(): string {
  for (const candidate of [resolve(__dirname, 'migrations'), resolve(__dirname, '..', '..', 'prisma', 'migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('prisma/migrations not found');
}

export function checksum(sql: Buffer | string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export async function migrate(
  databaseUrl: string,
  opts: { log?: (line: string) => void; dir?: string } = {},
): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? migrationsDir();
  const migrations = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => ({ name: d.name, sql: readFileSync(join(dir, d.name, 'migration.sql')) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const client = new Client({ connectionString: databaseUrl, application_name: 'integration-hub-migrate' });
  try {
    await client.connect();
  } catch (err) {
    throw new MigrationError(
      `cannot connect to Postgres (${(err as Error).message}): check DATABASE_URL and that the server runs`,
    );
  }
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const { rows } = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    for (const r of rows) {
      if (r.finished_at === null)
        throw new MigrationError(
          `migration ${r.migration_name} failed earlier and is recorded as unfinished: fix the database, then mark it rolled back (prisma migrate resolve --rolled-back ${r.migration_name})`,
        );
    }
    for (const m of migrations) {
      const sum = checksum(m.sql);
      const prior = done.get(m.name);
      if (prior) {
        if (prior.checksum !== sum)
          throw new MigrationError(
            `migration ${m.name} was changed after it was applied (checksum differs): restore the file and add a new migration instead`,
          );
        continue;
      }
      const id = randomUUID();
      await client.query('BEGIN');
      try {
        await client.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
          [id, sum, m.name],
        );
        await client.query(m.sql.toString('utf8'));
        await client.query(
          'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
          [id],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
      log(`applied migration ${m.name}`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    await client.end().catch(() => {});
  }
  return { applied };
}
