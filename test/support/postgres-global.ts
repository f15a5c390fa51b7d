/** The Postgres server for a test run: TEST_DATABASE_ADMIN_URL / DATABASE_URL, the machine's server, or embedded. */
import { Client } from 'pg';
import { resolvePostgres } from '../../scripts/local-postgres';

export const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/test';

async function reachable(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function startPostgresForTests(): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  const given = process.env.TEST_DATABASE_ADMIN_URL ?? process.env.DATABASE_URL;
  if (given) return { adminUrl: given, stop: async () => {} };
  if (await reachable(DEFAULT_ADMIN_URL)) return { adminUrl: DEFAULT_ADMIN_URL, stop: async () => {} };
  const pg = await resolvePostgres({ log: (l) => process.stderr.write(`[postgres] ${l}\n`) });
  return { adminUrl: pg.url, stop: pg.stop };
}
