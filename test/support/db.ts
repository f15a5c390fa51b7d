/** A fresh, migrated database per test file, dropped afterwards. */
import { randomUUID } from 'node:crypto';
import { Client, Pool } from 'pg';
import { createPrismaClient, type PrismaClient } from '../../prisma/client';
import { migrate } from '../../prisma/migrate';
import { DEFAULT_ADMIN_URL } from './postgres-global';

export function adminUrl(): string {
  return process.env.TEST_DATABASE_ADMIN_URL ?? DEFAULT_ADMIN_URL;
}

export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  prisma: PrismaClient;
  /** A node-postgres pool on the database (made on first use, ended by drop): what the ledger writer's store takes. */
  pool(): Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `hub_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(name);
  if (opts.migrate !== false) await migrate(url);
  const prisma = createPrismaClient(url, { poolSize: 5 });
  let pool: Pool | undefined;
  return {
    name,
    url,
    prisma,
    pool: () => {
      if (!pool) {
        pool = new Pool({ connectionString: url, max: 4 });
        // An idle connection terminated by a test (Postgres away) is dropped by the pool; not a crash.
        pool.on('error', () => {});
      }
      return pool;
    },
    async drop() {
      await prisma.$disconnect().catch(() => {});
      await pool?.end().catch(() => {});
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
