/**
 * The ledger writer's cost per delivery, without the rest of the hub: records shaped as the hub makes them (one
 * event record with its payload, one delivery record with its attempt inline) are decoded and written by the real
 * store into a fresh database, in batches as the writer's. Reports the writer's CPU (decode, prepare + the client)
 * and the Postgres backends' CPU (from /proc) per delivery.
 *
 *   npm run build && node dist/bench/ledger-store.js [--events 20000] [--batch 1000] [--body-bytes 1024]
 *     [--outcomes-first] [--remember 100000]
 *
 * `--outcomes-first`: every delivery record before every event record, as the writer is left after a saturation run
 * (the outcomes written during it, the events read from the outbox topics afterwards); the second half, the events,
 * is reported on its own line. `--remember N`: the store's `rememberDeliveries` (0: none).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client, Pool } from 'pg';
import {
  decodeLedgerMessage,
  encodeLedgerBundle,
  encodeLedgerRecord,
  type LedgerRecord,
} from '../pipeline/shared/ledger/ledger-record';
import { LedgerWriterStorePg } from '../pipeline/shared/ledger/ledger-store.pg';
import { migrate } from '../prisma/migrate';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const EVENTS = arg('events', 20_000);
const BATCH = arg('batch', 1000);
const ROUNDS = arg('rounds', 2);
/** Ledger records per Kafka record (a bundle), as the processors send them. */
const BUNDLE = arg('bundle', 50);
/** Bytes of each event's payload body (the hub bench sends ~1 KB events). */
const BODY_BYTES = arg('body-bytes', 1024);
const OUTCOMES_FIRST = process.argv.includes('--outcomes-first');
const REMEMBER = arg('remember', 100_000);

/** utime + stime of a process, seconds (clock ticks of 100 Hz). */
function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}

/** Kafka record values: bundles of `BUNDLE` ledger records, events and deliveries interleaved. */
function records(n: number): Buffer[] {
  const out: Buffer[] = [];
  const later: Buffer[] = [];
  const fields = { userId: 'u-123456', email: 'someone@example.com', roles: ['admin', 'viewer'], pad: '' };
  fields.pad = 'x'.repeat(Math.max(0, BODY_BYTES - JSON.stringify(fields).length));
  const body = Buffer.from(JSON.stringify(fields)).toString('base64');
  for (let i = 0; i < n; i++) {
    const eventId = randomUUID();
    const tenantId = `tenant-${i % 100}`;
    const subscriptionId = `sub-${i % 100}`;
    const receivedAt = new Date().toISOString();
    const event: LedgerRecord = {
      kind: 'event',
      at: receivedAt,
      eventId,
      tenantId,
      type: 'com.example.user.created',
      source: '/identity',
      subject: `user/${i}`,
      match: { sourceService: 'identity', eventType: 'user', resourceType: 'user', operationType: 'created' },
      domain: 'identity',
      traceId: randomUUID().replaceAll('-', ''),
      receivedAt,
      ingest: { topic: 'hub.ingest', partition: i % 6, offset: String(i) },
      subscriptionIds: [subscriptionId],
      payload: {
        headers: {
          ce_specversion: '1.0',
          ce_id: eventId,
          ce_type: 'com.example.user.created',
          ce_source: '/identity',
          ce_time: receivedAt,
          ce_tenantid: tenantId,
          'content-type': 'application/json',
        },
        body,
      },
    };
    const at = new Date().toISOString();
    const delivery: LedgerRecord = {
      kind: 'delivery',
      at,
      eventId,
      tenantId,
      subscriptionId,
      receivedAt,
      status: 'DELIVERED',
      reason: null,
      attempts: 1,
      lastStatusCode: 204,
      nextAttemptAt: null,
      tries: [
        {
          at,
          attemptId: randomUUID(),
          source: 'OUTBOX',
          attempt: 1,
          durationMs: 3,
          statusCode: 204,
          errorCode: null,
          responseSnippet: null,
        },
      ],
    };
    if (OUTCOMES_FIRST) {
      out.push(encodeLedgerRecord(delivery));
      later.push(encodeLedgerRecord(event));
    } else out.push(encodeLedgerRecord(event), encodeLedgerRecord(delivery));
  }
  out.push(...later);
  const bundles: Buffer[] = [];
  for (let i = 0; i < out.length; i += BUNDLE) bundles.push(encodeLedgerBundle(out.slice(i, i + BUNDLE)));
  return bundles;
}

async function backendPids(c: Client, db: string): Promise<number[]> {
  const r = await c.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type IN ('walwriter', 'background writer', 'checkpointer')`,
    [db],
  );
  return r.rows.map((x) => x.pid);
}

async function main() {
  const adminUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  for (let round = 0; round < ROUNDS; round++) {
    const name = `hub_bench_ledger_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    await migrate(u.toString());
    const pool = new Pool({ connectionString: u.toString(), max: 2 });
    try {
      const store = new LedgerWriterStorePg(pool, { rememberDeliveries: REMEMBER });
      await store.ping();
      await store.ensureDays([new Date().toISOString().slice(0, 10)]);
      const raw = records(EVENTS);
      const pids = await backendPids(admin, name);
      const pg0 = pids.reduce((s, p) => s + cpuOf(p), 0);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let decodeUs = 0;
      /** With --outcomes-first: where the events begin, and the clocks there. */
      const half = raw.length / 2;
      let mid: { t: number; cpu: NodeJS.CpuUsage; pg: number } | undefined;
      for (let i = 0; i < raw.length; i += Math.max(1, Math.round(BATCH / BUNDLE))) {
        if (OUTCOMES_FIRST && !mid && i >= half)
          mid = { t: performance.now(), cpu: process.cpuUsage(), pg: pids.reduce((s, p) => s + cpuOf(p), 0) };
        const d0 = process.cpuUsage();
        const batch: LedgerRecord[] = [];
        for (const b of raw.slice(i, i + Math.max(1, Math.round(BATCH / BUNDLE))))
          batch.push(...decodeLedgerMessage(b).records);
        const d = process.cpuUsage(d0);
        decodeUs += d.user + d.system;
        await store.write(batch);
      }
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const pg = (await backendPids(admin, name)).reduce((s, p) => s + cpuOf(p), 0) - pg0;
      const node = (cpu.user + cpu.system) / 1e6;
      const per = (s: number) => ((s * 1000) / EVENTS).toFixed(3);
      if (mid) {
        const c = process.cpuUsage(mid.cpu);
        const w = (performance.now() - mid.t) / 1000;
        const pgEvents = (await backendPids(admin, name)).reduce((s, p) => s + cpuOf(p), 0) - mid.pg;
        const nodeEvents = (c.user + c.system) / 1e6;
        console.log(
          `round ${round + 1}, the events after their outcomes (remember ${REMEMBER}): ${Math.round(EVENTS / w)} events/s; ms CPU per event: writer ${per(nodeEvents)}, postgres ${per(pgEvents)}, total ${per(nodeEvents + pgEvents)}`,
        );
      }
      console.log(
        `round ${round + 1}: ${EVENTS} deliveries (${EVENTS * 2} ledger records in ${raw.length} bundles) in ${wall.toFixed(2)} s = ${Math.round(EVENTS / wall)}/s; ` +
          `ms CPU per delivery: writer ${per(node)} (decode ${per(decodeUs / 1e6)}), postgres ${per(pg)}, total ${per(node + pg)}`,
      );
    } finally {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  }
  await admin.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
