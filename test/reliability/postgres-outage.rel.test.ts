/**
 * Reliability scenario 4 (issue 9): the hub's database becomes unreachable while deliveries fail into the DLT.
 * The machine's Postgres server keeps running (other work uses it): the hub's own database refuses connections
 * (`ALLOW_CONNECTIONS false`) and its sessions are terminated, from an admin connection, then it is allowed again.
 *
 *   tenant with two subscriptions: `ok` answers 2xx, `down` answers 500 to everything
 *   -> every `down` pair goes outbox -> DLT topic -> dlt-processor -> a FailedEvent row (through the outage)
 *
 * Pass: nothing lost; after recovery the DLT table holds exactly one row per failed pair (no more, no fewer) and
 * none for the healthy subscription. The dlt-processor's retry schedule is pushed out of the run, so the rows
 * stay as persisted. Needs `npm run build` first.
 */
import { Client } from 'pg';
import { adminUrl } from '../support/db';
import { pick } from './profile';
import { recordScenario } from './report';
import {
  configure,
  createTenant,
  drain,
  produceEvents,
  type RelHub,
  sleep,
  startRelHub,
  type Tenant,
  waitUntil,
} from './support/reliability-harness';

jest.setTimeout(pick(300_000, 1_800_000));

describe('Postgres outage (reliability scenario 4)', () => {
  let rel: RelHub;
  let t: Tenant | undefined;
  let admin: Client;

  beforeAll(async () => {
    rel = await startRelHub('pg', {
      serviceEnv: {
        'dlt-processor': { DELIVERY_RETRY_SCHEDULE: '1h' },
        // The healthy subscriber must not fail: the suite's 1.5 s header timeout (meant for the hanging subscriber
        // of scenario 5) can expire on a loaded 2-core box and park a healthy delivery. The service defaults here.
        'outbox-processor': { HEADERS_TIMEOUT_MS: '10000', BODY_TIMEOUT_MS: '10000', REQUEST_TIMEOUT_MS: '30000' },
      },
    });
    admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
  }, 180_000);

  afterAll(async () => {
    // Whatever happened, the database accepts connections again before it is dropped.
    await admin?.query(`ALTER DATABASE "${rel.db.name}" ALLOW_CONNECTIONS true`).catch(() => {});
    await admin?.end();
    await rel?.stop();
    await t?.stop();
  }, 90_000);

  it('persists every failed delivery exactly once in the DLT across an outage of the hub database', () =>
    rel.withLogs(async () => {
      const events = pick(1_500, 20_000);
      const outageMs = pick(8_000, 60_000);
      t = await createTenant(rel, ['ok', 'down']);
      configure(t.target('down'), { failing: true });
      const ok = t.target('ok');
      const down = t.target('down');
      const started = Date.now();
      const stream = produceEvents(rel, t.tenantId, events, { perSecond: pick(100, 150) });
      await waitUntil('20% of the events sent', () => stream.ids.length >= events * 0.2, 120_000, 50);
      const dbName = rel.db.name;
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [dbName],
      );
      await sleep(outageMs);
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
      await stream.done;

      const r = await drain(rel, t.targets, stream.ids, pick(180_000, 900_000));
      // Rows of this tenant's subscriptions, in any status, with their pairs.
      const rows = await rel.db.prisma.failedEvent.findMany({
        where: { subscriptionId: { in: [ok.subscriptionId, down.subscriptionId] } },
        select: { eventId: true, subscriptionId: true, lastErrorCode: true },
      });
      const wanted = new Set(stream.ids);
      const downRows = rows.filter((x) => x.subscriptionId === down.subscriptionId && wanted.has(x.eventId));
      const okRows = rows.filter((x) => x.subscriptionId === ok.subscriptionId && wanted.has(x.eventId));
      const okReasons = [...new Set(okRows.map((x) => x.lastErrorCode ?? 'none'))].join(', ');
      const distinctDown = new Set(downRows.map((x) => x.eventId)).size;
      const pass = r.lost === 0 && downRows.length === events && distinctDown === events && okRows.length === 0;
      recordScenario({
        id: 'postgres-outage',
        order: 4,
        title: 'Postgres outage (hub database refuses connections) while deliveries fail into the DLT',
        pass,
        figures: {
          events,
          'outage s': outageMs / 1000,
          'expected DLT rows': events,
          'DLT rows (failing subscription)': downRows.length,
          'DLT rows (healthy subscription)': okRows.length ? `${okRows.length} (${okReasons})` : 0,
          'healthy delivered': [...ok.receiver.deliveredIds('ok')].filter((id) => wanted.has(id)).length,
          lost: r.lost,
          duplicates: r.duplicates,
          'run + drain s': Math.round((Date.now() - started) / 1000),
        },
        criteria:
          '0 lost; after recovery the DLT holds exactly one row per failed (event, subscription) pair, none for the healthy one',
      });
      expect(r.lostSample).toEqual([]);
      expect(r.lost).toBe(0);
      expect(downRows.length).toBe(events);
      expect(distinctDown).toBe(events);
      expect(okRows).toHaveLength(0);
    }));
});
