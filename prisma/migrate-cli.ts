/** `npm run migrate`: applies pending migrations to DATABASE_URL. */
import { migrate } from './migrate';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('migrate: DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/hub)');
  process.exit(1);
}
migrate(url, { log: (l) => console.log(l) })
  .then(({ applied }) => {
    console.log(
      applied.length === 0 ? 'migrate: database is up to date' : `migrate: applied ${applied.length} migration(s)`,
    );
  })
  .catch((err: Error) => {
    console.error(`migrate: ${err.message}`);
    process.exit(1);
  });
