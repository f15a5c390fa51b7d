/**
 * `npm run bench`: end-to-end throughput, latency and memory of the hub against baselines measured in the same
 * run, on the same broker, subscriber process and payloads. Prints progress, a summary table, met/unmet targets,
 * and writes JSON to bench/results/. Asserts nothing (speed is never a test assertion).
 *
 *   npm run bench -- [--events 20000] [--fanout 1,10] [--skip-failure]
 *
 * Scenarios:
 *   raw-http        undici POSTs of the same bodies straight to the subscriber (the HTTP ceiling)
 *   raw-passthrough kafkajs consume -> produce -> consume -> undici POST, none of the hub's logic (the hops)
 *   hub fan-out N   platform events -> event-processor -> outbox-processor -> subscriber (real processes,
 *                   transactions, read_committed, signing, acks=all)
 *   dlt persist     hub with an always-failing subscriber and MAX_ATTEMPTS=1 -> DLT -> dlt-processor rows/s
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { Pool } from 'undici';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../pipeline/shared/crypto/secret-box';
import { ensureTopics } from '../pipeline/shared/kafka/admin';
import { encodeSnapshot, type SubscriptionSnapshot } from '../pipeline/shared/subscriptions/snapshot';
import { DOMAINS, topicNames } from '../pipeline/shared/topics';
import { migrate } from '../prisma/migrate';
import { resolveKafka } from '../scripts/local-kafka';

const ROOT = resolve(__dirname, '..', '..');
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const EVENTS = Number(arg('events', '20000'));
const FANOUTS = arg('fanout', '1,10').split(',').map(Number);
const SKIP_FAILURE = process.argv.includes('--skip-failure');
const say = (s: string) => process.stdout.write(`[bench] ${s}\n`);

interface Result {
  scenario: string;
  events: number;
  deliveries: number;
  seconds: number;
  eventsPerSec: number;
  deliveriesPerSec: number;
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  rssMb?: Record<string, number>;
  cpuSec?: Record<string, number>;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

function payload(i: number, tenant: string) {
  return {
    eventId: randomUUID(),
    sourceService: 'identity',
    eventType: 'user.created',
    resourceType: 'USER',
    operationType: 'CREATE',
    tenantId: tenant,
    occurredAt: new Date().toISOString(),
    payload: { userId: `u-${i}`, email: `user${i}@example.com`, profile: 'x'.repeat(820) },
  };
}

async function startSubscriber(fail = false) {
  const child = fork(join(__dirname, 'subscriber.js'), [], {
    env: { ...process.env, FAIL: fail ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((res) => child.once('message', (m: { port: number }) => res(m.port)));
  const ask = <T>(type: string) =>
    new Promise<T>((res) => {
      const on = (m: { type: string }) => {
        if (m.type === type) {
          child.off('message', on);
          res(m as T);
        }
      };
      child.on('message', on);
      child.send({ type });
    });
  return {
    url: `http://127.0.0.1:${port}`,
    report: () => ask<{ count: number; unique: number; latencies: number[] }>('report'),
    reset: () => ask('reset'),
    stop: () => child.kill('SIGKILL'),
  };
}

/** Peak RSS (VmHWM) and CPU seconds of a process, from /proc. */
function procStats(pid: number): { rssMb: number; cpuSec: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    return { rssMb: Math.round(hwm), cpuSec: Math.round((ticks / 100) * 10) / 10 };
  } catch {
    return { rssMb: 0, cpuSec: 0 };
  }
}

async function waitCount(
  sub: Awaited<ReturnType<typeof startSubscriber>>,
  target: number,
  label: string,
  timeoutMs: number,
  diagnose?: () => Promise<string>,
) {
  const start = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const r = await sub.report();
    if (r.unique >= target) return r;
    if (r.unique !== last) {
      last = r.unique;
      lastChange = Date.now();
    }
    if (Date.now() - start > timeoutMs || Date.now() - lastChange > 20_000) {
      say(
        `${label}: stopped at ${r.unique}/${target}${diagnose ? ` (${await diagnose().catch((e) => String(e))})` : ''}`,
      );
      return r;
    }
    process.stdout.write(`\r[bench] ${label}: ${r.unique}/${target} delivered   `);
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function produceAll(
  kafka: Kafka,
  topic: string,
  events: number,
  tenants: number,
  value = (i: number, t: string) => JSON.stringify(payload(i, t)),
) {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const batch = 500;
  for (let i = 0; i < events; i += batch) {
    const messages = Array.from({ length: Math.min(batch, events - i) }, (_, j) => {
      const tenant = `tenant-${(i + j) % tenants}`;
      return { key: tenant, value: value(i + j, tenant) };
    });
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
}

async function rawHttp(sub: Awaited<ReturnType<typeof startSubscriber>>): Promise<Result> {
  await sub.reset();
  const pool = new Pool(sub.url, { connections: 32 });
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < EVENTS) {
      const i = next++;
      const body = JSON.stringify(payload(i, 't'));
      const r = await pool.request({
        path: '/raw',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-id': String(i), 'x-sent-at': String(Date.now()) },
        body,
      });
      await r.body.dump();
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  const rep = await sub.report();
  const lat = rep.latencies.sort((a, b) => a - b);
  return {
    scenario: 'raw-http',
    events: EVENTS,
    deliveries: rep.unique,
    seconds,
    eventsPerSec: EVENTS / seconds,
    deliveriesPerSec: rep.unique / seconds,
    p50: pct(lat, 0.5),
    p95: pct(lat, 0.95),
    p99: pct(lat, 0.99),
    max: lat.at(-1),
  };
}

async function rawPassthrough(kafka: Kafka, sub: Awaited<ReturnType<typeof startSubscriber>>): Promise<Result> {
  await sub.reset();
  const prefix = `bench-raw-${randomUUID().slice(0, 6)}`;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: `${prefix}.in`, partitions: 6 },
    { topic: `${prefix}.mid`, partitions: 6 },
  ]);
  await admin.disconnect();
  await produceAll(kafka, `${prefix}.in`, EVENTS, 100);
  const start = performance.now();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const c1 = kafka.consumer({ groupId: `${prefix}-1`, maxWaitTimeInMs: 20 });
  const c2 = kafka.consumer({ groupId: `${prefix}-2`, maxWaitTimeInMs: 20 });
  const pool = new Pool(sub.url, { connections: 32 });
  await Promise.all([c1.connect(), c2.connect()]);
  await c1.subscribe({ topic: `${prefix}.in`, fromBeginning: true });
  await c2.subscribe({ topic: `${prefix}.mid`, fromBeginning: true });
  await c1.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      await producer.send({
        topic: `${prefix}.mid`,
        acks: -1,
        messages: batch.messages.map((m) => ({ key: m.key, value: m.value })),
      });
    },
  });
  await c2.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      await Promise.all(
        batch.messages.map(async (m) => {
          const e = JSON.parse(m.value!.toString()) as { eventId: string; occurredAt: string };
          const r = await pool.request({
            path: '/raw',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-id': e.eventId, 'ce-time': e.occurredAt },
            body: m.value!,
          });
          await r.body.dump();
        }),
      );
    },
  });
  const rep = await waitCount(sub, EVENTS, 'raw pass-through', 600_000);
  const seconds = (performance.now() - start) / 1000;
  process.stdout.write('\n');
  await Promise.all([c1.disconnect(), c2.disconnect(), producer.disconnect(), pool.close()]);
  // Latency from produce time is not comparable here (the input was produced up-front); throughput only.
  return {
    scenario: 'raw-passthrough',
    events: EVENTS,
    deliveries: rep.unique,
    seconds,
    eventsPerSec: EVENTS / seconds,
    deliveriesPerSec: rep.unique / seconds,
  };
}

function startService(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, 'dist', entry)], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.on('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGTERM' && sig !== 'SIGKILL') say(`${name} exited (${code ?? sig})`);
  });
  return child;
}

async function hubRun(
  kafka: Kafka,
  brokers: string,
  sub: Awaited<ReturnType<typeof startSubscriber>>,
  fanout: number,
  opts: { failing?: boolean; databaseUrl?: string } = {},
): Promise<Result> {
  await sub.reset();
  const prefix = `bench-${randomUUID().slice(0, 6)}`;
  const topics = topicNames(prefix);
  const ingest = `${prefix}.platform.events.v1`;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: ingest, partitions: 6 },
    { topic: topics.subscriptions, partitions: 1, compact: true },
    { topic: topics.audit, partitions: 3 },
    { topic: topics.quarantine, partitions: 1 },
    ...DOMAINS.flatMap((d) => [
      { topic: topics.outbox(d), partitions: 6 },
      { topic: topics.dlt(d), partitions: 3 },
    ]),
  ]);
  await admin.disconnect();
  const keySpec = generateHubKeySpec('bench');
  const box = new SecretBox(parseHubKeys(keySpec));
  const TENANTS = 100;
  const producer = kafka.producer();
  await producer.connect();
  const snapshots: SubscriptionSnapshot[] = [];
  for (let t = 0; t < TENANTS; t++) {
    for (let f = 0; f < fanout; f++) {
      const id = randomUUID();
      snapshots.push({
        id,
        tenantId: `tenant-${t}`,
        version: 1,
        status: 'ACTIVE',
        match: {
          sourceService: 'identity',
          eventType: 'user.created',
          resourceType: 'USER',
          operationType: f % 2 ? '*' : 'CREATE',
        },
        endpointUrl: `${sub.url}/${id}`,
        contentMode: 'BINARY',
        auth: { type: 'NONE' },
        signing: { current: box.seal(`whsec_${Buffer.from(randomUUID()).toString('base64')}`, id) },
        customHeaders: {},
        ordered: false,
        updatedAt: new Date().toISOString(),
      });
    }
  }
  await producer.send({
    topic: topics.subscriptions,
    messages: snapshots.map((s) => ({ key: s.id, value: encodeSnapshot(s) })),
  });
  await producer.disconnect();
  const common = {
    KAFKA_BROKERS: brokers,
    TOPIC_PREFIX: prefix,
    HUB_ENCRYPTION_KEYS: keySpec,
    ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
  };
  const services: Record<string, ChildProcess> = {
    'event-processor': startService('event-processor', 'pipeline/event-processor/main.js', {
      ...common,
      INGEST_TOPICS: ingest,
      PORT: '0',
      GROUP_ID: `${prefix}-ep`,
    }),
    'outbox-processor': startService('outbox-processor', 'pipeline/outbox-processor/main.js', {
      ...common,
      PORT: '0',
      GROUP_ID: `${prefix}-op`,
      ...(opts.failing ? { MAX_ATTEMPTS: '1', BREAKER_MIN_REQUESTS: '1000000' } : {}),
    }),
  };
  if (opts.databaseUrl)
    services['dlt-processor'] = startService('dlt-processor', 'pipeline/dlt-processor/main.js', {
      ...common,
      DATABASE_URL: opts.databaseUrl,
      PORT: '0',
      GROUP_ID: `${prefix}-dlt`,
      SCHEDULER_INTERVAL_MS: '3600000',
    });
  await new Promise((r) => setTimeout(r, 4000)); // processes start, directories catch up, groups join
  const lagReport = async () => {
    const a = kafka.admin();
    await a.connect();
    try {
      const out: string[] = [];
      for (const [group, ts] of [
        [`${prefix}-ep`, [ingest]],
        [`${prefix}-op`, topics.allOutbox()],
      ] as const) {
        for (const t of ts) {
          const high = (await a.fetchTopicOffsets(t)).reduce((n, p) => n + Number(p.high), 0);
          const committed = (await a.fetchOffsets({ groupId: group, topics: [t] }))[0]!.partitions.reduce(
            (n, p) => n + Math.max(0, Number(p.offset)),
            0,
          );
          if (high > 0) out.push(`${t.replace(prefix, '')}: end ${high}, committed ${committed}`);
        }
      }
      return out.join('; ');
    } finally {
      await a.disconnect();
    }
  };
  const label = opts.failing ? 'dlt persist' : `hub fan-out ${fanout}`;
  say(`${label}: producing ${EVENTS} events (~1 KB) to ${ingest}`);
  const start = performance.now();
  await produceAll(kafka, ingest, EVENTS, TENANTS);
  const expected = EVENTS * fanout;
  let deliveries = 0;
  let seconds: number;
  let lat: number[] = [];
  if (opts.failing && opts.databaseUrl) {
    const pg = new Client({ connectionString: opts.databaseUrl });
    await pg.connect();
    for (;;) {
      const { rows } = await pg.query('SELECT count(*)::int AS n FROM "FailedEvent"');
      deliveries = rows[0].n;
      process.stdout.write(`\r[bench] ${label}: ${deliveries}/${expected} rows   `);
      if (deliveries >= expected || performance.now() - start > 600_000) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await pg.end();
    seconds = (performance.now() - start) / 1000;
  } else {
    const rep = await waitCount(sub, expected, label, 900_000, lagReport);
    seconds = (performance.now() - start) / 1000;
    deliveries = rep.unique;
    lat = rep.latencies.sort((a, b) => a - b);
  }
  process.stdout.write('\n');
  const rssMb: Record<string, number> = {};
  const cpuSec: Record<string, number> = {};
  for (const [name, child] of Object.entries(services)) {
    const s = procStats(child.pid!);
    rssMb[name] = s.rssMb;
    cpuSec[name] = s.cpuSec;
    child.kill('SIGTERM');
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const child of Object.values(services)) child.kill('SIGKILL');
  return {
    scenario: label,
    events: EVENTS,
    deliveries,
    seconds,
    eventsPerSec: EVENTS / seconds,
    deliveriesPerSec: deliveries / seconds,
    ...(lat.length ? { p50: pct(lat, 0.5), p95: pct(lat, 0.95), p99: pct(lat, 0.99), max: lat.at(-1) } : {}),
    rssMb,
    cpuSec,
  };
}

async function main() {
  say(
    `machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; events ${EVENTS}, fan-out ${FANOUTS.join('/')}`,
  );
  const kafkaHandle = await resolveKafka({ heapMb: 1024, log: (l) => say(l) });
  const kafka = new Kafka({ brokers: kafkaHandle.brokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING });
  const sub = await startSubscriber();
  const failing = await startSubscriber(true);
  const results: Result[] = [];
  let dbName: string | undefined;
  const adminUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  try {
    say('raw HTTP baseline ...');
    results.push(await rawHttp(sub));
    say('raw Kafka pass-through baseline ...');
    results.push(await rawPassthrough(kafka, sub));
    for (const f of FANOUTS) results.push(await hubRun(kafka, kafkaHandle.brokers, sub, f));
    if (!SKIP_FAILURE) {
      dbName = `hub_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
      const admin = new Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${dbName}"`);
      await admin.end();
      const u = new URL(adminUrl);
      u.pathname = `/${dbName}`;
      await migrate(u.toString());
      results.push(await hubRun(kafka, kafkaHandle.brokers, failing, 1, { failing: true, databaseUrl: u.toString() }));
    }
  } finally {
    sub.stop();
    failing.stop();
    if (dbName) {
      const admin = new Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
    }
    await kafkaHandle.stop();
  }
  const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  console.log('\nResults');
  console.table(
    results.map((r) => ({
      scenario: r.scenario,
      events: r.events,
      deliveries: r.deliveries,
      s: fmt(r.seconds, 1),
      'events/s': fmt(r.eventsPerSec),
      'deliveries/s': fmt(r.deliveriesPerSec),
      'p50 ms': fmt(r.p50),
      'p95 ms': fmt(r.p95),
      'p99 ms': fmt(r.p99),
      'max ms': fmt(r.max),
      'peak RSS MB': r.rssMb ? Object.values(r.rssMb).join('/') : '-',
    })),
  );
  const raw = results.find((r) => r.scenario === 'raw-passthrough');
  const http = results.find((r) => r.scenario === 'raw-http');
  const hub1 = results.find((r) => r.scenario === 'hub fan-out 1');
  const dlt = results.find((r) => r.scenario === 'dlt persist');
  if (hub1 && raw && http) {
    console.log(
      `hub fan-out 1 / raw pass-through (deliveries/s): ${(hub1.deliveriesPerSec / raw.deliveriesPerSec).toFixed(2)}x`,
    );
    console.log(
      `hub fan-out 1 / raw HTTP (deliveries/s): ${(hub1.deliveriesPerSec / http.deliveriesPerSec).toFixed(2)}x`,
    );
  }
  const targets = [
    [
      'hub >= 0.8x raw pass-through (fan-out 1)',
      hub1 && raw ? hub1.deliveriesPerSec >= 0.8 * raw.deliveriesPerSec : undefined,
    ],
    [
      '>= 5000 deliveries/s (fan-out 1, signed, acks=all, read_committed)',
      hub1 ? hub1.deliveriesPerSec >= 5000 : undefined,
    ],
    ['p99 <= 50 ms at 60% of max rate', undefined],
    ['peak RSS <= 200 MB per service', hub1?.rssMb ? Object.values(hub1.rssMb).every((v) => v <= 200) : undefined],
    ['DLT persistence >= 2000 rows/s', dlt ? dlt.deliveriesPerSec >= 2000 : undefined],
  ] as const;
  console.log('\nTargets');
  for (const [name, met] of targets)
    console.log(`  ${met === undefined ? 'not measured' : met ? 'met  ' : 'UNMET'}  ${name}`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), cores: cpus().length, node: process.version, events: EVENTS, results, targets },
      null,
      2,
    ),
  );
  say(`results written to ${file}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
