/**
 * `npm run bench`: end-to-end throughput, latency and memory of the hub against baselines measured in the same
 * run, on the same broker, subscriber process and payloads. Prints progress, a summary table, hub/baseline ratios,
 * met/unmet targets, and writes JSON to bench/results/. Asserts nothing (speed is never a test assertion).
 *
 *   npm run bench -- [--events 100000] [--fanout 1,10] [--partitions 6] [--skip-failure]
 *                    [--only-failure] [--only-registry] [--skip-registry] [--growth] [--million] [--soak 600]
 *                    [--profile DIR] [--keep-logs DIR] [--env K=V,...] [--ledger-rounds 2] [--nice-only] [--broker-c1]
 *
 * Scenarios (each hub run is the real hub as `npm start` runs it: all four services as separate processes started
 * by the launcher, the real broker, a fresh Postgres database, signing, acks=all, read_committed):
 *   raw-http          undici POSTs of the same bodies straight to the subscriber (the HTTP ceiling)
 *   raw-passthrough   kafkajs consume -> produce -> consume -> undici POST, none of the hub's logic (the hops)
 *   hub fan-out N     platform events -> event-processor -> outbox-processor -> subscriber, at saturation (all
 *                     events produced as fast as the producer goes) and then at a fixed 60% of the measured rate
 *   ledger on / off   fan-out 1 with the delivery ledger off and on, twice each in a counterbalanced order (off, on,
 *                     on, off; `--ledger-rounds N` for more); the faster run of each is compared, and the ledger's
 *                     catch-up after saturation and its rows/s reported
 *   dlt persist       always-failing subscriber, MAX_ATTEMPTS=1 -> DLT topic -> dlt-processor rows/s
 *   bulk replay       the subscriber recovers; POST /v1/failed-events/replay over all those rows -> rows/s
 *   ingest <format>   the event-processor's ingest rate (records consumed -> outbox records and offsets committed,
 *                     fan-out 1) for raw JSON, registry-encoded Avro and Protobuf (Confluent wire format with the
 *                     message-index array) in turn, on one hub started with HUB_SCHEMA_REGISTRY=local; at most
 *                     50,000 events each (--only-registry: only this)
 *   --growth          fan-out 1 at 10k and 100k events (1M with --million), fan-out 10 and 100 at 10k events
 *   --soak S          fan-out 1 at 60% load for S seconds, sampling every service's RSS (memory growth)
 *   ingest paths      Kafka producer vs REST CloudEvents batches vs gRPC PublishStream into one hub: events/s acknowledged
 *                     as durably on the ingest topic (`--only-ingest`, `--skip-ingest`)
 *   --facts-pair      fan-out 1 with WebhookDelivered facts off and on (FACTS_DELIVERED none / all), alternated
 *                     twice; their cost as a ratio in the same run (`--only-facts`: just this)
 *   --node-args F     extra Node.js flags for every service process (a memory or GC experiment)
 *   --dlt-nice N      the dlt-processor at nice N without SCHED_IDLE (to profile it: see DLT_NICE)
 *   --service-env S:K=V  extra environment for one service (`dlt-processor:NODE_OPTIONS=--max-semi-space-size=64`)
 *                     (`dlt-processor:LEDGER_ENABLED=false`: the ledger's records emitted, none written: the
 *                     delivery path's own share of the ledger's cost; no catch-up measured)
 *   --batch N,W       fan-out 1 (ledger on) with every subscription batched (`batch: { maxEvents: N, maxWaitMs: W }`),
 *                     beside the unbatched runs: deliveries (events delivered) per second and latency at 60%
 *   --rate N          the fixed-rate phase at N events/s instead of 60% of the measured maximum (before/after pairs)
 *   --idle S          an idle hub (fan-out 1): each service's CPU over S seconds after a warm-up (--idle-warmup,
 *                     default 30 s), then 10 events/s for 20 s and their latency (`--only-idle`: just this)
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { Pool } from 'undici';
import { createSchemaRegistry } from '../pipeline/event-processor/schema-decoder.confluent';
import { generateApiKey } from '../pipeline/shared/auth/api-key';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../pipeline/shared/crypto/secret-box';
import { ensureTopics } from '../pipeline/shared/kafka/admin';
import { STAGES } from '../pipeline/shared/metrics/stages';
import { encodeSnapshot, type SubscriptionSnapshot } from '../pipeline/shared/subscriptions/snapshot';
import { topicNames } from '../pipeline/shared/topics';
import { IngestServiceClient } from '../schemas/proto/gen/integrationhub/v1/ingest';
import { insecureClient, protoCloudEvent, publishStream } from '../scripts/demo/grpc-client';
import { hubTopicSpecs } from '../scripts/hub/infra';
import { cpuOfCommand, cpuSince, procStats } from '../scripts/hub/proc-stats';
import { isServiceName, SERVICE_NAMES, SERVICES as SERVICE_SPECS, type ServiceName } from '../scripts/hub/services';
import { type Hub, startHub } from '../scripts/hub/start-hub';
import { resolveKafka } from '../scripts/local-kafka';
import { type PlatformEncoder, platformEncoder } from '../scripts/register-schemas';

const ROOT = resolve(__dirname, '..', '..');
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const EVENTS = Number(arg('events', '100000'));
const FANOUTS = arg('fanout', '1,10').split(',').map(Number);
const PARTITIONS = Number(arg('partitions', '6'));
const SOAK_S = Number(arg('soak', '0'));
const SKIP_FAILURE = process.argv.includes('--skip-failure');
/** `--only-failure`: just the failure paths (DLT persist, bulk replay), e.g. to profile the dlt-processor. */
const ONLY_FAILURE = process.argv.includes('--only-failure');
/** `--only-registry`: just the ingest rates of raw JSON vs registry-encoded Avro and Protobuf. */
const ONLY_REGISTRY = process.argv.includes('--only-registry');
const SKIP_REGISTRY = process.argv.includes('--skip-registry');
/** `--only-ingest`: just the ingest paths (Kafka, REST batch, gRPC stream); `--skip-ingest` leaves them out. */
const ONLY_INGEST = process.argv.includes('--only-ingest');
const SKIP_INGEST = process.argv.includes('--skip-ingest');
const GROWTH = process.argv.includes('--growth');
const IDLE_S = Number(arg('idle', '0'));
const IDLE_WARMUP_S = Number(arg('idle-warmup', '30'));
const ONLY_IDLE = process.argv.includes('--only-idle');
const MILLION = process.argv.includes('--million');
/**
 * `--facts-pair`: fan-out 1 (ledger on) with the dlt-processor's WebhookDelivered facts off and on
 * (FACTS_DELIVERED=none / all), alternated twice; the faster run of each is compared (their cost in the same run).
 * `--only-facts`: just this pair.
 */
const FACTS_PAIR = process.argv.includes('--facts-pair') || process.argv.includes('--only-facts');
const ONLY_FACTS = process.argv.includes('--only-facts');
/**
 * `--broker-c1`: the local broker's JIT stops at C1 (`-XX:TieredStopAtLevel=1`), as tests start it, instead of the
 * production JIT (every tier) the bench gives it by default (since 2026-12-03 13:26; earlier figures are C1's).
 */
const BROKER_C1 = process.argv.includes('--broker-c1');
/** `--profile DIR`: every service runs with --cpu-prof and writes its profile to DIR when it stops. */
const PROFILE_DIR = arg('profile', '');
/**
 * `--keep-logs DIR`: every hub's log lines (LOG_LEVEL=warn: warnings and errors) appended to DIR/<database>.log as
 * they come, not only its last 50 printed when a run fails (e.g. to read why one catch-up was slow).
 */
const KEEP_LOGS_DIR = arg('keep-logs', '');
/** Extra Node.js flags for every service (`--node-args "--max-semi-space-size=32"`): a memory or GC experiment. */
const NODE_ARGS = arg('node-args', '').split(' ').filter(Boolean);
/** A comma-separated flag's items. */
const listArg = (name: string) => arg(name, '').split(',').filter(Boolean);
/** `s` split at the first `sep` (`K=V`, `SERVICE:K=V`). */
const splitAt = (s: string, sep: string): [string, string] => [s.slice(0, s.indexOf(sep)), s.slice(s.indexOf(sep) + 1)];
/** `--env K=V,K2=V2`: extra environment for every service (tuning experiments). */
const EXTRA_ENV: Record<string, string> = Object.fromEntries(listArg('env').map((kv) => splitAt(kv, '=')));
/**
 * `--service-env SERVICE:K=V,SERVICE:K2=V2`: extra environment for one service (e.g.
 * `dlt-processor:NODE_OPTIONS=--max-semi-space-size=64`), merged over what a run sets.
 */
const SERVICE_ENV: Partial<Record<ServiceName, Record<string, string>>> = {};
for (const spec of listArg('service-env')) {
  const [service, kv] = splitAt(spec, ':');
  if (!isServiceName(service))
    throw new Error(`--service-env ${spec}: no service "${service}" (one of ${SERVICE_NAMES.join(', ')})`);
  const [k, v] = splitAt(kv, '=');
  SERVICE_ENV[service] = { ...SERVICE_ENV[service], [k]: v };
}
/**
 * `--service-env dlt-processor:LEDGER_ENABLED=false`: the processors emit every ledger record but nothing writes them
 * (the delivery path's own share of the ledger's cost); the ledger-on runs then have no catch-up to wait for.
 */
const WRITER_STOPPED = SERVICE_ENV['dlt-processor']?.LEDGER_ENABLED === 'false';
/** `--batch N,W`: a fan-out 1 run with batched subscriptions (maxEvents N, maxWaitMs W) beside the unbatched ones. */
const BATCH = (() => {
  const v = arg('batch', '');
  if (!v) return undefined;
  const [maxEvents, maxWaitMs] = v.split(',').map(Number);
  return { maxEvents: maxEvents!, maxWaitMs: maxWaitMs ?? 0 };
})();
/**
 * `--rate N`: the fixed-rate phase at N events/s instead of 60% of the run's own maximum, so that two builds
 * (before / after a change) are compared at the same load.
 */
const RATE = Number(arg('rate', '0'));
/**
 * `--nice-only`: the dlt-processor at its nice value without SCHED_IDLE (the launcher's default before 2026-12-02):
 * the experiment that compares the two.
 */
const NICE_ONLY = process.argv.includes('--nice-only');
/**
 * `--dlt-nice N`: the dlt-processor at nice N without SCHED_IDLE (0: as the other services), e.g. to profile it: under
 * SCHED_IDLE its CPU profile counts the time it waits preempted to whatever it was running.
 */
const DLT_NICE = arg('dlt-nice', '');
/** `--ledger-rounds N` (default 2): rounds of the ledger off / on pair, each round's order the reverse of the last's. */
const LEDGER_ROUNDS = Math.max(1, Number(arg('ledger-rounds', '2')));
const TENANTS = 100;
/** "Cost per delivery flat from fan-out 1 to 100": within this factor (runs of one build differ by up to ~10%). */
const FANOUT_FLAT = 1.15;
/** A fixed-rate phase lasts this long at most (or until EVENTS events). */
const RATE_PHASE_S = 30;
const SERVICES: ServiceName[] = ['subscription-api', 'event-processor', 'outbox-processor', 'dlt-processor'];
const say = (s: string) => process.stdout.write(`[bench] ${s}\n`);
const progress = (s: string) => process.stdout.write(`\r[bench] ${s}   `);

interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}
interface Result {
  scenario: string;
  events: number;
  deliveries: number;
  seconds: number;
  eventsPerSec: number;
  deliveriesPerSec: number;
  latency?: Latency;
  /** Fixed-rate phase at 60% of the measured maximum. */
  rate60?: {
    eventsPerSec: number;
    events: number;
    deliveries: number;
    latency?: Latency;
    /** Where the time goes, stage by stage (hub_stage_seconds between the start and end of the phase). */
    budget?: StageBudget[];
  };
  peakRssMb?: Record<string, number>;
  cpuSec?: Record<string, number>;
  soak?: { seconds: number; rssMb: Record<string, number[]> };
  /**
   * CPU seconds spent during the saturation phase alone: each service, the broker (every `java` process) and
   * Postgres (every `postgres` process; other users of the machine's server count too).
   */
  saturationCpuSec?: Record<string, number>;
  /** The delivery ledger after the saturation phase: how long its writer took to catch up, and its rows/s. */
  ledger?: { catchUpS: number; rows: number; rowsPerSec: number };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))] ?? Number.NaN;
const latencyOf = (values: number[]): Latency | undefined => {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return { p50: pct(s, 0.5), p95: pct(s, 0.95), p99: pct(s, 0.99), max: s.at(-1)! };
};

const resultOf = (scenario: string, events: number, seconds: number, rep: { unique: number; latencies: number[] }) => ({
  scenario,
  events,
  deliveries: rep.unique,
  seconds,
  eventsPerSec: events / seconds,
  deliveriesPerSec: rep.unique / seconds,
  latency: latencyOf(rep.latencies),
});

/** A ~1 KB raw platform event; `occurredAt` is its event time, so latency = subscriber receive - occurredAt. */
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
const message = (i: number) => {
  const tenant = `tenant-${i % TENANTS}`;
  return { key: tenant, value: JSON.stringify(payload(i, tenant)) };
};
/** The same event in the Confluent wire format (the registry schemas carry the payload as JSON text). */
async function registryMessage(i: number, format: 'avro' | 'protobuf', encoder: PlatformEncoder) {
  const tenant = `tenant-${i % TENANTS}`;
  const { payload: data, ...fields } = payload(i, tenant);
  const record = { ...fields, payloadJson: JSON.stringify(data) };
  return { key: tenant, value: format === 'avro' ? await encoder.avro(record) : encoder.protobuf(record) };
}

type Subscriber = Awaited<ReturnType<typeof startSubscriber>>;
async function startSubscriber() {
  const child = fork(join(__dirname, 'subscriber.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((res) => child.once('message', (m: { port: number }) => res(m.port)));
  const ask = <T>(msg: { type: string; on?: boolean }) =>
    new Promise<T>((res) => {
      const on = (m: { type: string }) => {
        if (m.type === msg.type) {
          child.off('message', on);
          res(m as T);
        }
      };
      child.on('message', on);
      child.send(msg);
    });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    report: () => ask<{ count: number; unique: number; latencies: number[] }>({ type: 'report' }),
    reset: () => ask({ type: 'reset' }),
    failing: (on: boolean) => ask({ type: 'fail', on }),
    stop: () => child.kill('SIGKILL'),
  };
}

/**
 * Waits until the subscriber has `target` unique deliveries; gives up after 20 s without progress. `stage` adds
 * where the pipeline is (e.g. records in the outbox topics) to the progress line, so a slow stage shows itself.
 */
async function waitDeliveries(
  sub: Subscriber,
  target: number,
  label: string,
  diagnose?: () => Promise<string>,
  stage?: () => Promise<string>,
) {
  let last = -1;
  let lastChange = Date.now();
  let stageText = '';
  let stageAt = 0;
  for (;;) {
    if (stage && Date.now() - stageAt > 2000) {
      stageAt = Date.now();
      stageText = await stage().catch(() => '');
    }
    const r = await sub.report();
    if (r.unique >= target) {
      process.stdout.write('\n');
      return r;
    }
    if (r.unique !== last) {
      last = r.unique;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > 20_000) {
      process.stdout.write('\n');
      say(`${label}: stalled at ${r.unique}/${target}${diagnose ? ` (${await diagnose().catch(String)})` : ''}`);
      return r;
    }
    progress(`${label}: ${r.unique}/${target} delivered${stageText ? `; ${stageText}` : ''}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Produces `count` events as fast as an idempotent acks=all producer goes (batches of 500). */
async function produceFast(kafka: Kafka, topic: string, count: number, from = 0) {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    for (let i = 0; i < count; i += 500) {
      const messages = Array.from({ length: Math.min(500, count - i) }, (_, j) => message(from + i + j));
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Produces at a fixed rate (events/s) for `seconds`, in 20 ms ticks; returns how many were produced. */
async function produceAtRate(kafka: Kafka, topic: string, rate: number, seconds: number, from: number) {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  let sent = 0;
  const start = performance.now();
  try {
    for (;;) {
      const elapsed = (performance.now() - start) / 1000;
      if (elapsed >= seconds) break;
      const due = Math.floor(elapsed * rate) - sent;
      if (due > 0) {
        const messages = Array.from({ length: due }, (_, j) => message(from + sent + j));
        sent += due;
        await producer.send({ topic, acks: -1, messages });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await producer.disconnect();
  }
  return sent;
}

async function rawHttp(sub: Subscriber): Promise<Result> {
  await sub.reset();
  const pool = new Pool(sub.url, { connections: 32 });
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < EVENTS) {
      const i = next++;
      const r = await pool.request({
        path: '/raw',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-id': String(i), 'x-sent-at': String(Date.now()) },
        body: message(i).value,
      });
      await r.body.dump();
      if (i % 5000 === 0) progress(`raw HTTP: ${i}/${EVENTS}`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const seconds = (performance.now() - start) / 1000;
  process.stdout.write('\n');
  await pool.close();
  const rep = await sub.report();
  return resultOf('raw-http', EVENTS, seconds, rep);
}

/** The hops alone: the same events through two topics and one POST each, with plain kafkajs and undici. */
async function rawPassthrough(kafka: Kafka, sub: Subscriber): Promise<Result> {
  await sub.reset();
  const prefix = `bench-raw-${randomUUID().slice(0, 6)}`;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: `${prefix}.in`, partitions: PARTITIONS },
    { topic: `${prefix}.mid`, partitions: PARTITIONS },
  ]);
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const c1 = kafka.consumer({ groupId: `${prefix}-1`, maxWaitTimeInMs: 20 });
  const c2 = kafka.consumer({ groupId: `${prefix}-2`, maxWaitTimeInMs: 20 });
  const joined = [c1, c2].map((c) => new Promise<void>((res) => c.on(c.events.GROUP_JOIN, () => res())));
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
  await Promise.all(joined);
  // Same clock as the hub runs: from the first produce to the last delivery, producing while consuming.
  const start = performance.now();
  await produceFast(kafka, `${prefix}.in`, EVENTS);
  const rep = await waitDeliveries(sub, EVENTS, 'raw pass-through');
  const seconds = (performance.now() - start) / 1000;
  await Promise.all([c1.disconnect(), c2.disconnect(), producer.disconnect(), pool.close()]);
  await deleteTopics(kafka, [`${prefix}.in`, `${prefix}.mid`]);
  return resultOf('raw-passthrough', EVENTS, seconds, rep);
}

async function deleteTopics(kafka: Kafka, topics: string[]) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
}

interface BenchHub {
  hub: Hub;
  kafka: Kafka;
  ingest: string;
  topics: string[];
  databaseUrl: string;
  /** The services' last log lines (warnings and errors: the hub runs at LOG_LEVEL=warn). */
  lastLines: string[];
  stop(): Promise<void>;
}

/**
 * The real hub with `fanout` subscriptions per tenant for `sub`, all known to every processor before it starts.
 * Subscriptions go straight onto the changelog topic (the same snapshots the subscription-api's relay writes),
 * because creating 10k of them over REST would measure the API, not the pipeline.
 */
async function startBenchHub(
  kafka: Kafka,
  brokers: string,
  adminUrl: string,
  sub: Subscriber,
  fanout: number,
  serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {},
  schemaRegistry?: 'local',
  batch?: SubscriptionSnapshot['batch'],
): Promise<BenchHub> {
  const prefix = `bench-${randomUUID().slice(0, 6)}`;
  const names = topicNames(prefix);
  const ingest = `${prefix}.platform.events.v1`;
  const specs = hubTopicSpecs(names, ingest, PARTITIONS);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, specs);
  await admin.disconnect();

  const keySpec = generateHubKeySpec('bench');
  const box = new SecretBox(parseHubKeys(keySpec));
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
        ...(batch ? { batch } : {}),
        updatedAt: new Date().toISOString(),
      });
    }
  }
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (let i = 0; i < snapshots.length; i += 1000)
    await producer.send({
      topic: names.subscriptions,
      acks: -1,
      messages: snapshots.slice(i, i + 1000).map((s) => ({ key: s.id, value: encodeSnapshot(s) })),
    });
  await producer.disconnect();

  const dbName = `hub_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const pg = new Client({ connectionString: adminUrl });
  await pg.connect();
  await pg.query(`CREATE DATABASE "${dbName}"`);
  await pg.end();
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-bench-'));
  const lastLines: string[] = [];
  const logFile = KEEP_LOGS_DIR ? join(resolve(KEEP_LOGS_DIR), `${dbName}.log`) : undefined;
  if (logFile) {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, ''); // there even when nothing is logged (a healthy run logs nothing at warn)
    say(`hub logs (warn and above) -> ${logFile}`);
  }
  const hub = await startHub({
    dataDir,
    kafkaBrokers: brokers,
    databaseUrl: u.toString(),
    topicPrefix: prefix,
    ingestTopic: ingest,
    partitions: PARTITIONS,
    ports: { 'subscription-api': 0, 'event-processor': 0, 'outbox-processor': 0, 'dlt-processor': 0 },
    secrets: { HUB_ENCRYPTION_KEYS: keySpec, OPERATOR_API_KEY: generateApiKey() },
    lock: false,
    writeInfo: false,
    logLevel: 'warn',
    endpointAllowHosts: '127.0.0.1',
    env: EXTRA_ENV,
    serviceEnv: Object.fromEntries(
      SERVICES.map((name) => [name, { ...serviceEnv[name], ...SERVICE_ENV[name] }]),
    ) as typeof serviceEnv,
    ...(NICE_ONLY ? { niceness: { 'dlt-processor': SERVICE_SPECS['dlt-processor'].niceness } } : {}),
    ...(DLT_NICE !== '' ? { niceness: { 'dlt-processor': Number(DLT_NICE) } } : {}),
    nodeArgs: [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE_DIR)}`] : []), ...NODE_ARGS],
    logSink: (service, line) => {
      if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${service} ${line}\n`);
      lastLines.push(`${service} ${line}`);
      if (lastLines.length > 50) lastLines.shift();
    },
    log: () => {},
    readyTimeoutMs: 120_000,
    schemaRegistry,
  });
  return {
    hub,
    kafka,
    ingest,
    topics: specs.map((s) => s.topic),
    databaseUrl: u.toString(),
    lastLines,
    async stop() {
      await hub.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await deleteTopics(
        kafka,
        specs.map((s) => s.topic),
      );
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await c.end();
    },
  };
}

const pidOf = (hub: Hub, s: ServiceName) => hub.instances(s)[0]?.child.pid;
/** `hub_stage_seconds` buckets per stage (cumulative counts by upper bound), sum and count, from both processors. */
type StageScrape = Record<string, { buckets: Map<number, number>; sum: number; count: number }>;

async function scrapeStages(hub: Hub): Promise<StageScrape> {
  const out: StageScrape = {};
  for (const s of ['event-processor', 'outbox-processor'] as const) {
    const text = await fetch(hub.urls[s].metrics)
      .then((r) => r.text())
      .catch(() => '');
    for (const line of text.split('\n')) {
      const m = /^hub_stage_seconds_(bucket|sum|count)\{([^}]*)\} ([0-9.e+-]+|\+Inf)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      const stage = labels.stage!;
      out[stage] ??= { buckets: new Map(), sum: 0, count: 0 };
      const st = out[stage];
      const v = Number(m[3]);
      if (m[1] === 'bucket') st.buckets.set(labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le), v);
      else if (m[1] === 'sum') st.sum = v;
      else st.count = v;
    }
  }
  return out;
}

export interface StageBudget {
  stage: string;
  count: number;
  meanMs: number;
  /** Upper bucket bounds holding the 50th / 99th percentile, ms. */
  p50Ms: number;
  p99Ms: number;
}

/** Per stage between two scrapes: events, mean, and the buckets holding p50 and p99. */
function stageBudget(a: StageScrape, b: StageScrape): StageBudget[] {
  const out: StageBudget[] = [];
  for (const stage of STAGES) {
    const x = b[stage];
    if (!x) continue;
    const y = a[stage];
    const count = x.count - (y?.count ?? 0);
    if (count <= 0) continue;
    const bounds = [...x.buckets.keys()].sort((p, q) => p - q);
    const at = (q: number) => {
      for (const le of bounds) if ((x.buckets.get(le) ?? 0) - (y?.buckets.get(le) ?? 0) >= q * count) return le * 1000;
      return Number.POSITIVE_INFINITY;
    };
    out.push({
      stage,
      count,
      meanMs: Math.round(((x.sum - (y?.sum ?? 0)) / count) * 10_000) / 10,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
    });
  }
  return out;
}

function sayBudget(label: string, budget: StageBudget[]) {
  say(`${label}: latency budget (mean; p50/p99 as bucket bounds, ms):`);
  for (const b of budget)
    say(`  ${b.stage.padEnd(15)} ${String(b.meanMs).padStart(8)}   <=${b.p50Ms} / <=${b.p99Ms}   (${b.count})`);
}

/** CPU seconds so far of each service, and of each broker JVM and Postgres process (for a phase's difference). */
function saturationCpu(hub: Hub) {
  const services: Record<string, number> = {};
  for (const s of SERVICES) services[s] = procStats(pidOf(hub, s)).cpuSec;
  return { services, kafka: cpuOfCommand('java'), postgres: cpuOfCommand('postgres') };
}

/** CPU seconds between two `saturationCpu` snapshots, per service, the broker and Postgres. */
function cpuBetween(a: ReturnType<typeof saturationCpu>, b: ReturnType<typeof saturationCpu>) {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.services)) out[k] = Math.round((v - (a.services[k] ?? 0)) * 100) / 100;
  out.kafka = cpuSince(a.kafka, b.kafka);
  out.postgres = cpuSince(a.postgres, b.postgres);
  return out;
}

function serviceStats(hub: Hub) {
  const peakRssMb: Record<string, number> = {};
  const cpuSec: Record<string, number> = {};
  for (const s of SERVICES) {
    const st = procStats(pidOf(hub, s));
    peakRssMb[s] = st.peakMb;
    cpuSec[s] = st.cpuSec;
  }
  return { peakRssMb, cpuSec };
}

/** Committed vs end offsets of the hub's consumer groups, for a stalled run's diagnosis. */
function lagReport(b: BenchHub) {
  return async () => {
    const a = b.kafka.admin();
    await a.connect();
    try {
      const groups = await a.listGroups();
      const out: string[] = [];
      for (const g of groups.groups) {
        const offsets = await a.fetchOffsets({ groupId: g.groupId, topics: b.topics }).catch(() => []);
        for (const t of offsets) {
          const committed = t.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
          if (committed > 0) out.push(`${g.groupId}@${t.topic}: ${committed}`);
        }
      }
      return `${out.join('; ')}\n  last service log lines:\n  ${b.lastLines.slice(-8).join('\n  ')}`;
    } finally {
      await a.disconnect();
    }
  };
}

/** Records produced to the hub's outbox topics so far (what the event-processor has fanned out). */
function outboxProgress(b: BenchHub) {
  return async () => {
    const a = b.kafka.admin();
    await a.connect();
    try {
      let n = 0;
      for (const t of b.topics.filter((x) => x.includes('.outbox.')))
        for (const p of await a.fetchTopicOffsets(t)) n += Number(p.high);
      return `outbox topics hold ${n} records (incl. transaction markers)`;
    } finally {
      await a.disconnect();
    }
  };
}

/** Saturation, then a fixed-rate phase at 60% of the measured event rate (optionally a long soak). */
async function hubRun(
  kafka: Kafka,
  brokers: string,
  adminUrl: string,
  sub: Subscriber,
  fanout: number,
  events: number,
  opts: {
    rate60?: boolean;
    soakS?: number;
    label?: string;
    ledgerOff?: boolean;
    /** FACTS_DELIVERED of the dlt-processor (default: the service's default, `all`). */
    factsDelivered?: string;
    /** Every subscription batched so. */
    batch?: SubscriptionSnapshot['batch'];
  } = {},
): Promise<Result> {
  const label = opts.label ?? `hub fan-out ${fanout}`;
  say(`${label}: starting the hub (4 services, ${TENANTS * fanout} subscriptions)`);
  const off = { LEDGER_ENABLED: 'false' };
  const b = await startBenchHub(
    kafka,
    brokers,
    adminUrl,
    sub,
    fanout,
    opts.ledgerOff
      ? { 'event-processor': off, 'outbox-processor': off, 'dlt-processor': off }
      : opts.factsDelivered
        ? { 'dlt-processor': { FACTS_DELIVERED: opts.factsDelivered } }
        : undefined,
    undefined,
    opts.batch,
  );
  try {
    await sub.reset();
    say(`${label}: ${events} events (~1 KB) -> ${events * fanout} deliveries`);
    const cpu0 = saturationCpu(b.hub);
    const start = performance.now();
    await produceFast(kafka, b.ingest, events);
    const rep = await waitDeliveries(sub, events * fanout, label, lagReport(b), outboxProgress(b));
    const seconds = (performance.now() - start) / 1000;
    const result: Result = resultOf(label, events, seconds, rep);
    result.saturationCpuSec = cpuBetween(cpu0, saturationCpu(b.hub));
    const cpuAll = Object.values(result.saturationCpuSec).reduce((x, y) => x + y, 0);
    say(
      `${label}: ${Math.round(result.deliveriesPerSec)} deliveries/s; CPU s while saturated: ${Object.entries(
        result.saturationCpuSec,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} (${((cpuAll * 1000) / (events * fanout)).toFixed(3)} ms per delivery in all)`,
    );
    if (!opts.ledgerOff && WRITER_STOPPED)
      say(`${label}: the ledger writer is not running (--service-env dlt-processor:LEDGER_ENABLED=false): no catch-up`);
    else if (!opts.ledgerOff) result.ledger = await ledgerCatchUp(b, events, events * fanout, start, label);
    if (opts.rate60 || opts.soakS) {
      const rate = RATE || Math.max(1, Math.floor(0.6 * result.eventsPerSec));
      const phaseS = opts.soakS ?? Math.min(RATE_PHASE_S, events / rate);
      await sub.reset();
      say(`${label}: fixed rate ${rate} events/s (${RATE ? '--rate' : '60% of max'}) for ${phaseS.toFixed(0)} s`);
      const samples: Record<string, number[]> = Object.fromEntries(SERVICES.map((s) => [s, []]));
      const phaseStart = performance.now();
      const stages0 = await scrapeStages(b.hub);
      const sampler = setInterval(() => {
        for (const s of SERVICES) samples[s]!.push(procStats(pidOf(b.hub, s)).rssMb);
        // Progress: a soak is quiet for minutes otherwise.
        const elapsed = (performance.now() - phaseStart) / 1000;
        const rss = SERVICES.map((s) => samples[s]!.at(-1)).join('/');
        say(`${label} at 60%: ${elapsed.toFixed(0)}/${phaseS.toFixed(0)} s; RSS MB (api/ep/op/dlt) ${rss}`);
      }, 10_000);
      const produced = await produceAtRate(kafka, b.ingest, rate, phaseS, events);
      clearInterval(sampler);
      const r60 = await waitDeliveries(sub, produced * fanout, `${label} at 60%`, lagReport(b));
      result.rate60 = {
        eventsPerSec: rate,
        events: produced,
        deliveries: r60.unique,
        latency: latencyOf(r60.latencies),
        budget: stageBudget(stages0, await scrapeStages(b.hub)),
      };
      sayBudget(`${label} at 60%`, result.rate60.budget!);
      if (opts.soakS) result.soak = { seconds: opts.soakS, rssMb: samples };
    }
    Object.assign(result, serviceStats(b.hub));
    return result;
  } finally {
    await b.stop();
  }
}

/** Records of `topic` that consumer group `groupId` has committed. */
async function committedOf(admin: Admin, groupId: string, topic: string): Promise<number> {
  let n = 0;
  for (const t of await admin.fetchOffsets({ groupId, topics: [topic] }))
    for (const p of t.partitions) n += Math.max(0, Number(p.offset));
  return n;
}

/**
 * The event-processor's ingest rate by input format, on one hub with a local schema registry: for raw JSON, then
 * Avro, then Protobuf, `events` records (encoded beforehand, so encoding is not timed) are produced as fast as the
 * producer goes, and the clock stops when the event-processor's committed ingest offsets reach them (its outbox
 * records and offsets commit in one transaction). Deliveries are awaited between formats, so each starts quiet.
 * Two rounds; the faster of each format's two counts (a hub's first run is its slowest: warm-up).
 */
async function registryIngest(kafka: Kafka, brokers: string, adminUrl: string, sub: Subscriber, events: number) {
  say(`registry ingest: starting the hub with HUB_SCHEMA_REGISTRY=local (fan-out 1), ${events} events per format`);
  const b = await startBenchHub(kafka, brokers, adminUrl, sub, 1, {}, 'local');
  const results: Result[] = [];
  try {
    const url = b.hub.schemaRegistry!;
    const encoder = await platformEncoder(createSchemaRegistry({ url }), b.ingest);
    say(`registry ingest: registry ${url}; schema ids Avro ${encoder.ids.avro}, Protobuf ${encoder.ids.protobuf}`);
    await sub.reset();
    const producer = kafka.producer({ idempotent: true });
    const admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    const groupId = EXTRA_ENV.GROUP_ID ?? 'integration-hub-event-processor';
    let total = 0;
    try {
      for (const format of ['json', 'avro', 'protobuf', 'json', 'avro', 'protobuf'] as const) {
        const label = `ingest ${format === 'json' ? 'raw JSON' : `${format === 'avro' ? 'Avro' : 'Protobuf'} (registry)`}`;
        const messages = [];
        for (let i = 0; i < events; i++)
          messages.push(format === 'json' ? message(total + i) : await registryMessage(total + i, format, encoder));
        const target = total + events;
        const ep = pidOf(b.hub, 'event-processor');
        const cpu0 = procStats(ep).cpuSec;
        const start = performance.now();
        for (let i = 0; i < messages.length; i += 500)
          await producer.send({ topic: b.ingest, acks: -1, messages: messages.slice(i, i + 500) });
        let committed = 0;
        let lastChange = performance.now();
        while (committed < target) {
          const now = await committedOf(admin, groupId, b.ingest);
          if (now !== committed) lastChange = performance.now();
          committed = now;
          if (performance.now() - lastChange > 20_000) break;
          progress(`${label}: ${committed - total}/${events} committed`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const seconds = (performance.now() - start) / 1000;
        const cpu = Math.round((procStats(ep).cpuSec - cpu0) * 100) / 100;
        process.stdout.write('\n');
        if (committed < target) say(`${label}: stalled at ${committed - total}/${events} (${await lagReport(b)()})`);
        const done = committed - total;
        const run: Result = {
          scenario: label,
          events: done,
          deliveries: done,
          seconds,
          eventsPerSec: done / seconds,
          deliveriesPerSec: Number.NaN,
          cpuSec: { 'event-processor': cpu },
        };
        say(
          `${label}: ${Math.round(run.eventsPerSec)} events/s into the outbox; event-processor CPU ${cpu} s (${((cpu * 1000) / Math.max(1, done)).toFixed(3)} ms per event)`,
        );
        const prior = results.findIndex((r) => r.scenario === label);
        if (prior < 0) results.push(run);
        else if (run.eventsPerSec > results[prior]!.eventsPerSec) results[prior] = run;
        total = target;
        await waitDeliveries(sub, total, `${label}: deliveries`, lagReport(b));
      }
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
    return results;
  } finally {
    await b.stop();
  }
}

/** One event as CloudEvent attributes (JSON form) with its data: what the REST and gRPC paths send. */
function cloudEventOf(i: number) {
  const tenant = `tenant-${i % TENANTS}`;
  const p = payload(i, tenant);
  return {
    attributes: {
      specversion: '1.0',
      id: p.eventId,
      source: '//identity/users',
      type: p.eventType,
      time: p.occurredAt,
      tenantid: tenant,
      sourceservice: p.sourceService,
      resourcetype: p.resourceType,
      operationtype: p.operationType,
    },
    data: p.payload,
  };
}

/**
 * The three ways in, on one hub (fan-out 1): events/s until every event is acknowledged as durably on the ingest
 * topic (acks=all) by the path itself: a Kafka producer (batches of 500), REST `POST /v1/events` with CloudEvents
 * JSON batches of 500 (4 requests in flight), gRPC `PublishStream` (one stream, an ack per event). Each path runs
 * twice, alternated; the faster run counts. The hub delivers everything between runs.
 */
async function ingestPaths(kafka: Kafka, brokers: string, adminUrl: string, sub: Subscriber, events: number) {
  say(`ingest paths: starting the hub (fan-out 1), ${events} events per path`);
  const b = await startBenchHub(kafka, brokers, adminUrl, sub, 1);
  const results: Result[] = [];
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const epUrl = b.hub.urls['event-processor'].url;
  const grpcAddress = b.hub.urls['event-processor'].grpc;
  const key = b.hub.operatorApiKey;
  const http = new Pool(epUrl, { connections: 4 });
  const grpc = grpcAddress ? insecureClient(IngestServiceClient, grpcAddress) : undefined;
  let delivered = 0;
  try {
    await sub.reset();
    const paths: Record<string, (from: number) => Promise<number>> = {
      'ingest via Kafka (producer, batches of 500)': async (from) => {
        for (let i = 0; i < events; i += 500) {
          const n = Math.min(500, events - i);
          await producer.send({
            topic: b.ingest,
            acks: -1,
            messages: Array.from({ length: n }, (_, j) => message(from + i + j)),
          });
        }
        return events;
      },
      'ingest via REST (CloudEvents batches of 500)': async (from) => {
        const bodies: string[] = [];
        for (let i = 0; i < events; i += 500)
          bodies.push(
            JSON.stringify(
              Array.from({ length: Math.min(500, events - i) }, (_, j) => {
                const e = cloudEventOf(from + i + j);
                return { ...e.attributes, datacontenttype: 'application/json', data: e.data };
              }),
            ),
          );
        let acked = 0;
        let next = 0;
        const worker = async () => {
          while (next < bodies.length) {
            const body = bodies[next++]!;
            const res = await http.request({
              path: '/v1/events',
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/cloudevents-batch+json' },
              body,
            });
            const text = await res.body.text();
            if (res.statusCode >= 300) throw new Error(`REST ingest answered ${res.statusCode}: ${text.slice(0, 200)}`);
            acked += (JSON.parse(body) as unknown[]).length;
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        return acked;
      },
      'ingest via gRPC (PublishStream)': async (from) => {
        if (!grpc) throw new Error('the event-processor has no gRPC address');
        const protos = Array.from({ length: events }, (_, i) => {
          const e = cloudEventOf(from + i);
          return protoCloudEvent(e.attributes, e.data);
        });
        const acks = await publishStream(grpc, key, protos, 300_000);
        return acks.filter((a) => (a.result?.status?.code ?? 0) === 0).length;
      },
    };
    let from = 0;
    for (let round = 0; round < 2; round++)
      for (const [label, run] of Object.entries(paths)) {
        const start = performance.now();
        const acked = await run(from);
        const seconds = (performance.now() - start) / 1000;
        from += events;
        const r: Result = {
          scenario: label,
          events: acked,
          deliveries: acked,
          seconds,
          eventsPerSec: acked / seconds,
          deliveriesPerSec: Number.NaN,
        };
        say(`${label}: ${Math.round(r.eventsPerSec)} events/s acknowledged (${acked}/${events})`);
        const prior = results.findIndex((x) => x.scenario === label);
        if (prior < 0) results.push(r);
        else if (r.eventsPerSec > results[prior]!.eventsPerSec) results[prior] = r;
        delivered += acked;
        await waitDeliveries(sub, delivered, `${label}: deliveries`, lagReport(b));
      }
    return results;
  } finally {
    grpc?.close();
    await http.close();
    await producer.disconnect();
    await b.stop();
  }
}

/** The ledger writer's own figures, from the dlt-processor's /metrics: its lag and the rows it wrote per table. */
async function scrapeLedger(hub: Hub): Promise<{ lag: number; rows: Record<string, number> } | undefined> {
  const text = await fetch(hub.urls['dlt-processor'].metrics)
    .then((r) => r.text())
    .catch(() => '');
  let lag: number | undefined;
  const rows: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const l = /^hub_ledger_writer_lag ([0-9.e+-]+)$/.exec(line);
    if (l) lag = Number(l[1]);
    const r = /^hub_ledger_rows_written_total\{table="(\w+)"\} ([0-9.e+-]+)$/.exec(line);
    if (r) rows[r[1]!] = Number(r[2]);
  }
  return lag === undefined ? undefined : { lag, rows };
}

/** Every delivery DELIVERED and every event on record, counted in Postgres (the events come from the outbox topics,
 * the outcomes from the ledger topic: either can be the later). */
async function ledgerCounts(pg: Client) {
  const { rows } = await pg.query<{ d: string; e: string; a: string }>(
    `SELECT (SELECT count(*) FROM "LedgerDelivery" WHERE status = 'DELIVERED') AS d,
            (SELECT count(*) FROM "LedgerEvent") AS e, (SELECT count(*) FROM "LedgerAttempt") AS a`,
  );
  const d = Number(rows[0]!.d);
  const e = Number(rows[0]!.e);
  return { delivered: d, events: e, sum: d + e + Number(rows[0]!.a) };
}

/**
 * After the saturation phase: waits until the ledger holds every delivery as DELIVERED and every event, and reports
 * how long after the last delivery that was (the writer's lag draining) and the rows written per second.
 *
 * Watched through the writer's own metrics (hub_ledger_writer_lag 0, and at least one event row and one attempt row
 * written per event and per delivery), polled every 100 ms, then confirmed once by counting the rows in Postgres.
 * Not by counting every poll: three count(*) over 100,000+ rows take ~150 ms of Postgres CPU each time, which slowed
 * the catch-up it measured (2026-12-02, BENCHMARKS.md).
 */
async function ledgerCatchUp(b: BenchHub, events: number, deliveries: number, startMs: number, label: string) {
  const pg = new Client({ connectionString: b.databaseUrl });
  await pg.connect();
  try {
    const lastDelivery = performance.now();
    const atLast = (await ledgerCounts(pg)).sum;
    for (;;) {
      const m = await scrapeLedger(b.hub);
      const caughtUp =
        m !== undefined &&
        m.lag === 0 &&
        (m.rows.LedgerEvent ?? 0) >= events &&
        (m.rows.LedgerAttempt ?? 0) >= deliveries;
      if (caughtUp) {
        const now = performance.now();
        const c = await ledgerCounts(pg);
        if (c.delivered >= deliveries && c.events >= events) {
          const afterS = (now - lastDelivery) / 1000;
          say(
            `${label}: ledger rows at the last delivery ${atLast} of ${c.sum}; the ${c.sum - atLast} after it in ${afterS.toFixed(1)} s (${afterS > 0 ? Math.round((c.sum - atLast) / afterS) : 0} rows/s)`,
          );
          await sayLedgerWrites(pg, events, deliveries, label);
          return {
            catchUpS: Math.round((now - lastDelivery) / 100) / 10,
            rows: c.sum,
            rowsPerSec: Math.round(c.sum / ((now - startMs) / 1000)),
          };
        }
        say(
          `${label}: the writer's metrics say caught up but Postgres holds ${c.delivered}/${deliveries} deliveries DELIVERED, ${c.events}/${events} events; waiting`,
        );
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (performance.now() - lastDelivery > 300_000) {
        const c = await ledgerCounts(pg);
        say(
          `${label}: the ledger did not catch up within 300 s (${c.delivered}/${deliveries} deliveries, ${c.events}/${events} events recorded; writer lag ${m?.lag ?? 'unknown'})`,
        );
        return { catchUpS: Number.NaN, rows: c.delivered, rowsPerSec: Number.NaN };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await pg.end();
  }
}

/**
 * What Postgres did for the ledger, per delivery: row versions inserted into each table (index entries follow them),
 * updates and how many were HOT (no index entry), and the database's commits. A backend flushes its statistics when
 * it goes idle, at most once a second and at the latest 10 s later (Postgres 15), so this waits until every event's
 * insert is counted (12 s at most).
 */
async function sayLedgerWrites(pg: Client, events: number, deliveries: number, label: string) {
  const read = () =>
    pg.query<{ parent: string; ins: string; upd: string; hot: string }>(
      `SELECT p.relname AS parent, sum(s.n_tup_ins) AS ins, sum(s.n_tup_upd) AS upd, sum(s.n_tup_hot_upd) AS hot
       FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname LIKE 'Ledger%' GROUP BY p.relname ORDER BY p.relname`,
    );
  let { rows } = await read();
  for (const until = performance.now() + 12_000; performance.now() < until; ) {
    if (Number(rows.find((r) => r.parent === 'LedgerEvent')?.ins ?? 0) >= events) break;
    await new Promise((r) => setTimeout(r, 500));
    ({ rows } = await read());
  }
  const db = await pg.query<{ commits: string }>(
    'SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()',
  );
  const per = (n: string | number) => (Number(n) / deliveries).toFixed(2);
  const commits = Number(db.rows[0]?.commits ?? 0);
  const rowsIn = rows.reduce((n, r) => n + Number(r.ins) + Number(r.upd), 0);
  say(
    `${label}: ledger writes per delivery: ${rows
      .map((r) => `${r.parent} ${per(r.ins)} inserted, ${per(r.upd)} updated (${per(r.hot)} HOT)`)
      .join(
        '; ',
      )}; ${commits} commits (database, all clients: ~${Math.round(rowsIn / Math.max(1, commits))} rows each)`,
  );
}

/**
 * An idle hub: what each service spends doing nothing (percent of one core over `seconds`, after a warm-up), then
 * the latency of single events at 10 events/s (what a new user sees on a quiet hub).
 */
async function idleRun(kafka: Kafka, brokers: string, adminUrl: string, sub: Subscriber, seconds: number) {
  const label = 'idle hub';
  say(`${label}: starting the hub; ${IDLE_WARMUP_S} s warm-up, then ${seconds} s idle`);
  const b = await startBenchHub(kafka, brokers, adminUrl, sub, 1);
  try {
    await sub.reset();
    // Warm-up: one event through every stage, then quiet.
    await produceFast(kafka, b.ingest, 1);
    await waitDeliveries(sub, 1, `${label} warm-up`);
    await new Promise((r) => setTimeout(r, IDLE_WARMUP_S * 1000));
    const before = saturationCpu(b.hub);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = cpuBetween(before, saturationCpu(b.hub));
    const percent = Object.fromEntries(
      Object.entries(cpu).map(([k, v]) => [k, Math.round((v / seconds) * 1000) / 10]),
    ) as Record<string, number>;
    say(
      `${label}: percent of one core over ${seconds} s: ${Object.entries(percent)
        .map(([k, v]) => `${k} ${v}%`)
        .join(', ')}`,
    );
    await sub.reset();
    const stages0 = await scrapeStages(b.hub);
    const produced = await produceAtRate(kafka, b.ingest, 10, 20, 1);
    const rep = await waitDeliveries(sub, produced, `${label} at 10 events/s`);
    const latency = latencyOf(rep.latencies);
    const budget = stageBudget(stages0, await scrapeStages(b.hub));
    sayBudget(`${label} at 10 events/s`, budget);
    say(
      `${label} at 10 events/s: ${produced} events, p50/p95/p99/max ${latency ? `${latency.p50}/${latency.p95}/${latency.p99}/${latency.max}` : '-'} ms`,
    );
    return { cpuPercent: percent, latency, budget };
  } finally {
    await b.stop();
  }
}

/** Failure path: an always-failing subscriber -> DLT rows/s; then it recovers and a bulk replay -> rows/s. */
async function failurePaths(
  kafka: Kafka,
  brokers: string,
  adminUrl: string,
  sub: Subscriber,
  events: number,
): Promise<Result[]> {
  await sub.failing(true);
  const b = await startBenchHub(kafka, brokers, adminUrl, sub, 1, {
    // One attempt, no breaker: every event goes to the DLT at once, the path under test is DLT -> Postgres.
    'outbox-processor': { MAX_ATTEMPTS: '1', BREAKER_MIN_REQUESTS: '1000000000' },
    // The scheduler stays out of the way; the replay below is the operator's.
    'dlt-processor': { SCHEDULER_INTERVAL_MS: '3600000' },
  });
  const pg = new Client({ connectionString: b.databaseUrl });
  await pg.connect();
  try {
    say(`dlt persist: ${events} events to an always-failing subscriber`);
    const start = performance.now();
    await produceFast(kafka, b.ingest, events);
    let rows = 0;
    let firstRowAt = 0;
    let lastChange = Date.now();
    while (rows < events && Date.now() - lastChange < 30_000) {
      const n = (await pg.query('SELECT count(*)::int AS n FROM "FailedEvent"')).rows[0].n as number;
      if (n > 0 && !firstRowAt) firstRowAt = performance.now();
      if (n !== rows) lastChange = Date.now();
      rows = n;
      progress(`dlt persist: ${rows}/${events} rows`);
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stdout.write('\n');
    const end = performance.now();
    const persist: Result = {
      scenario: 'dlt persist',
      events,
      deliveries: rows,
      seconds: (end - start) / 1000,
      eventsPerSec: events / ((end - start) / 1000),
      // The DLT stage's own rate: from its first row to its last.
      deliveriesPerSec: rows / Math.max(0.001, (end - (firstRowAt || start)) / 1000),
    };

    await sub.failing(false);
    await sub.reset();
    const dltUrl = b.hub.urls['dlt-processor'].url;
    const headers = { authorization: `Bearer ${b.hub.operatorApiKey}`, 'content-type': 'application/json' };
    say(`bulk replay: ${rows} rows`);
    const replayStart = performance.now();
    const res = await fetch(`${dltUrl}/v1/failed-events/replay`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ status: 'PENDING' }),
    });
    if (res.status !== 202) throw new Error(`bulk replay answered ${res.status}: ${await res.text()}`);
    const job = (await res.json()) as { id: string };
    let view: { status: string; processed: number; succeeded: number; total: number };
    for (;;) {
      view = (await (await fetch(`${dltUrl}/v1/replay-jobs/${job.id}`, { headers })).json()) as typeof view;
      progress(`bulk replay: ${view.processed}/${view.total} (${view.succeeded} delivered)`);
      if (view.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stdout.write('\n');
    const replaySeconds = (performance.now() - replayStart) / 1000;
    const replay: Result = {
      scenario: 'bulk replay',
      events: view.total,
      deliveries: view.succeeded,
      seconds: replaySeconds,
      eventsPerSec: view.processed / replaySeconds,
      deliveriesPerSec: view.succeeded / replaySeconds,
    };
    const stats = serviceStats(b.hub);
    Object.assign(persist, stats);
    return [persist, replay];
  } finally {
    await pg.end();
    await sub.failing(false);
    await b.stop();
  }
}

const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
function markdownTable(results: Result[]) {
  const rows = [
    '| scenario | events | deliveries | s | events/s | deliveries/s | p50 | p95 | p99 | max (ms) | at 60%: events/s, p50/p95/p99/max ms | peak RSS MB (api/ep/op/dlt) | CPU s (api/ep/op/dlt) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const l = r.latency;
    const r60 = r.rate60;
    const at60 = r60
      ? `${r60.eventsPerSec}, ${fmt(r60.latency?.p50)}/${fmt(r60.latency?.p95)}/${fmt(r60.latency?.p99)}/${fmt(r60.latency?.max)}`
      : '-';
    rows.push(
      `| ${r.scenario} | ${r.events} | ${r.deliveries} | ${fmt(r.seconds, 1)} | ${fmt(r.eventsPerSec)} | ${fmt(r.deliveriesPerSec)} | ${fmt(l?.p50)} | ${fmt(l?.p95)} | ${fmt(l?.p99)} | ${fmt(l?.max)} | ${at60} | ${r.peakRssMb ? Object.values(r.peakRssMb).join('/') : '-'} | ${r.cpuSec ? Object.values(r.cpuSec).join('/') : '-'} |`,
    );
  }
  return rows.join('\n');
}

async function main() {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  say(`machine: ${machine}; events ${EVENTS}, fan-out ${FANOUTS.join('/')}, ${PARTITIONS} partitions`);
  const only = ONLY_FAILURE || ONLY_REGISTRY || ONLY_IDLE || ONLY_INGEST || ONLY_FACTS;
  // A broker with its JIT's every tier, as in production (see LocalKafkaOptions.fullJit); `--broker-c1` as tests run it.
  const kafkaHandle = await resolveKafka({ heapMb: 1024, fullJit: !BROKER_C1, log: (l) => say(l) });
  if (!process.env.KAFKA_BROKERS) say(`broker JIT: ${BROKER_C1 ? 'C1 only (--broker-c1)' : 'C1 and C2 (production)'}`);
  const kafka = new Kafka({ brokers: kafkaHandle.brokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING });
  const adminUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const sub = await startSubscriber();
  const results: Result[] = [];
  const growth: Result[] = [];
  let ledgerBest: { on: number; off: number } | undefined;
  let ledgerMean: { on: number; off: number } | undefined;
  let batchedBest: number | undefined;
  let factsBest: { none: Result; all: Result } | undefined;
  let idle: Awaited<ReturnType<typeof idleRun>> | undefined;
  try {
    if (!only) {
      say('raw HTTP baseline ...');
      results.push(await rawHttp(sub));
      say('raw Kafka pass-through baseline ...');
      results.push(await rawPassthrough(kafka, sub));
    }
    // Fan-out 1 with the delivery ledger off too: what the ledger costs, in the same run. Hub runs on this box vary
    // by up to 50% from one to the next, and drift within a bench (BENCHMARKS.md, 2026-12-02), so the order is
    // counterbalanced, off / on / on / off (ABBA: each kind once early and once late), and the faster run of each
    // kind is compared.
    if (IDLE_S > 0) idle = await idleRun(kafka, kafkaHandle.brokers, adminUrl, sub, IDLE_S);
    const ledgerPair = !only && FANOUTS.includes(1);
    const offRuns: Result[] = [];
    const onRuns: Result[] = [];
    const rounds = ledgerPair ? LEDGER_ROUNDS : 0;
    for (let round = 0; round < rounds; round++) {
      const off = async () =>
        offRuns.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, {
            ledgerOff: true,
            label: 'hub fan-out 1 (ledger off)',
          }),
        );
      const last = round === rounds - 1;
      const on = async () =>
        onRuns.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, {
            rate60: last,
            label: last ? 'hub fan-out 1' : `hub fan-out 1 (ledger on, round ${round + 1})`,
          }),
        );
      if (round % 2 === 0) {
        await off();
        await on();
      } else {
        await on();
        await off();
      }
    }
    const best = (runs: Result[]) => runs.reduce((a, b) => (b.deliveriesPerSec > a.deliveriesPerSec ? b : a));
    const meanRate = (runs: Result[]) => runs.reduce((n, r) => n + r.deliveriesPerSec, 0) / runs.length;
    if (ledgerPair) {
      say(
        `ledger off: ${offRuns.map((r) => Math.round(r.deliveriesPerSec)).join(', ')} deliveries/s; on: ${onRuns.map((r) => Math.round(r.deliveriesPerSec)).join(', ')} (in the order run: ${Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? 'off, on' : 'on, off')).join(', ')})`,
      );
      results.push(...onRuns.filter((r) => r.scenario === 'hub fan-out 1'), best(offRuns));
      ledgerBest = { on: best(onRuns).deliveriesPerSec, off: best(offRuns).deliveriesPerSec };
      ledgerMean = { on: meanRate(onRuns), off: meanRate(offRuns) };
    }
    if (BATCH) {
      const label = `hub fan-out 1, batched (${BATCH.maxEvents} events / ${BATCH.maxWaitMs} ms)`;
      const runs: Result[] = [];
      for (let round = 0; round < 2; round++)
        runs.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, {
            batch: BATCH,
            rate60: round === 1,
            label: round === 1 ? label : `${label}, first round`,
          }),
        );
      say(`batched: ${runs.map((r) => Math.round(r.deliveriesPerSec)).join(', ')} deliveries/s`);
      results.push(runs[1]!);
      batchedBest = best(runs).deliveriesPerSec;
    }
    if (FACTS_PAIR) {
      // WebhookDelivered facts double the produce volume of deliveries at full rate: their cost, in the same run.
      const none: Result[] = [];
      const all: Result[] = [];
      for (let round = 0; round < 2; round++) {
        none.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, {
            factsDelivered: 'none',
            label: 'hub fan-out 1 (FACTS_DELIVERED=none)',
          }),
        );
        all.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, {
            factsDelivered: 'all',
            label: 'hub fan-out 1 (FACTS_DELIVERED=all)',
          }),
        );
      }
      say(
        `facts none: ${none.map((r) => Math.round(r.deliveriesPerSec)).join(', ')} deliveries/s; all: ${all.map((r) => Math.round(r.deliveriesPerSec)).join(', ')}`,
      );
      results.push(best(none), best(all));
      factsBest = { none: best(none), all: best(all) };
    }
    for (const f of only ? [] : FANOUTS.filter((x) => !(ledgerPair && x === 1)))
      results.push(await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, f, EVENTS, { rate60: true }));
    if (ONLY_INGEST || (!only && !SKIP_INGEST))
      results.push(...(await ingestPaths(kafka, kafkaHandle.brokers, adminUrl, sub, Math.min(EVENTS, 20_000))));
    if (ONLY_REGISTRY || (!only && !SKIP_REGISTRY))
      results.push(...(await registryIngest(kafka, kafkaHandle.brokers, adminUrl, sub, Math.min(EVENTS, 50_000))));
    if (!SKIP_FAILURE && (ONLY_FAILURE || !only))
      results.push(...(await failurePaths(kafka, kafkaHandle.brokers, adminUrl, sub, Math.min(EVENTS, 20_000))));
    if (SOAK_S > 0 && !only)
      results.push(
        await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, 1, EVENTS, { soakS: SOAK_S, label: 'soak fan-out 1' }),
      );
    if (GROWTH) {
      const runs: [number, number][] = [
        [1, 10_000],
        [1, 100_000],
        ...(MILLION ? ([[1, 1_000_000]] as [number, number][]) : []),
        [10, 10_000],
        [100, 10_000],
      ];
      for (const [f, n] of runs)
        growth.push(
          await hubRun(kafka, kafkaHandle.brokers, adminUrl, sub, f, n, { label: `growth fan-out ${f}, ${n} events` }),
        );
    }
  } finally {
    sub.stop();
    await kafkaHandle.stop();
  }

  console.log(`\nResults (${machine})\n`);
  console.log(markdownTable(results));
  if (growth.length) console.log(`\nGrowth\n\n${markdownTable(growth)}`);
  const find = (s: string) => results.find((r) => r.scenario === s);
  const raw = find('raw-passthrough');
  const http = find('raw-http');
  const hub1 = find('hub fan-out 1');
  const hub1Off = find('hub fan-out 1 (ledger off)');
  const dlt = find('dlt persist');
  const replay = find('bulk replay');
  const soak = find('soak fan-out 1');
  const ratios: Record<string, number> = {};
  if (hub1 && raw)
    ratios['hub fan-out 1 / raw pass-through (deliveries/s)'] = hub1.deliveriesPerSec / raw.deliveriesPerSec;
  if (hub1 && http) ratios['hub fan-out 1 / raw HTTP (deliveries/s)'] = hub1.deliveriesPerSec / http.deliveriesPerSec;
  if (ledgerBest)
    ratios['hub fan-out 1, ledger on / ledger off (deliveries/s, the faster run of each)'] =
      ledgerBest.on / ledgerBest.off;
  // The same pair by the means of every run of each kind: one lucky or unlucky run moves it less (identical hub runs
  // on a two-vCPU box differ by 15-30%, BENCHMARKS.md 2026-12-03 09:20 section).
  if (ledgerMean && LEDGER_ROUNDS > 1)
    ratios['hub fan-out 1, ledger on / ledger off (deliveries/s, the mean of the runs of each)'] =
      ledgerMean.on / ledgerMean.off;
  if (batchedBest && ledgerBest)
    ratios['hub fan-out 1, batched / unbatched, ledger on (deliveries/s, faster of two runs each)'] =
      batchedBest / ledgerBest.on;
  if (factsBest) {
    ratios['hub fan-out 1, FACTS_DELIVERED all / none (deliveries/s, faster of two runs each)'] =
      factsBest.all.deliveriesPerSec / factsBest.none.deliveriesPerSec;
    const cpuPer = (r: Result) =>
      (Object.values(r.saturationCpuSec ?? {}).reduce((x, y) => x + y, 0) * 1000) / Math.max(1, r.deliveries);
    ratios['hub fan-out 1, FACTS_DELIVERED all / none (CPU ms per delivery, all processes)'] =
      cpuPer(factsBest.all) / Math.max(1e-9, cpuPer(factsBest.none));
  }
  for (const r of results.filter((x) => x.scenario.startsWith('hub fan-out ') && x !== hub1 && x !== hub1Off))
    if (raw) ratios[`${r.scenario} / raw pass-through (deliveries/s)`] = r.deliveriesPerSec / raw.deliveriesPerSec;
  const ingestJson = find('ingest raw JSON');
  for (const r of results.filter((x) => x.scenario.startsWith('ingest ') && x !== ingestJson))
    if (ingestJson) ratios[`${r.scenario} / ingest raw JSON (events/s)`] = r.eventsPerSec / ingestJson.eventsPerSec;
  for (const r of results.filter((x) => x.ledger))
    console.log(
      `  ledger after ${r.scenario}: caught up ${r.ledger!.catchUpS} s after the last delivery; ${r.ledger!.rows} rows, ${r.ledger!.rowsPerSec} rows/s`,
    );
  // Fan-out cost: CPU of every process while saturated, per delivery, at fan-out 1 and at the largest fan-out run.
  const cpuPerDelivery = (r: Result) =>
    r.saturationCpuSec
      ? (Object.values(r.saturationCpuSec).reduce((x, y) => x + y, 0) * 1000) / r.deliveries
      : Number.NaN;
  const fanoutRuns = [...results, ...growth].filter((r) => /^(hub|growth) fan-out \d+(,|$)/.test(r.scenario));
  const fanOf = (r: Result) => Number(/fan-out (\d+)/.exec(r.scenario)![1]);
  const widest = fanoutRuns.reduce<Result | undefined>((w, r) => (!w || fanOf(r) > fanOf(w) ? r : w), undefined);
  const narrow = fanoutRuns.find((r) => fanOf(r) === 1 && r.scenario.startsWith(widest?.scenario.split(' ')[0] ?? ''));
  const fanoutCost =
    widest && narrow && fanOf(widest) > 1 && Number.isFinite(cpuPerDelivery(widest) / cpuPerDelivery(narrow))
      ? { ratio: cpuPerDelivery(widest) / cpuPerDelivery(narrow), fanout: fanOf(widest) }
      : undefined;
  if (fanoutCost)
    ratios[`CPU ms per delivery, fan-out ${fanoutCost.fanout} / fan-out 1 (all processes, saturated)`] =
      fanoutCost.ratio;
  console.log('\nRatios (same run)');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${v.toFixed(2)}x  ${k}`);
  const soakGrowth = soak?.soak
    ? Object.values(soak.soak.rssMb).every((s) => s.length < 2 || s.at(-1)! <= s[0]! * 1.1 + 10)
    : undefined;
  const targets: [string, boolean | undefined][] = [
    [
      'hub >= 0.8x raw pass-through in deliveries/s (fan-out 1)',
      hub1 && raw ? hub1.deliveriesPerSec >= 0.8 * raw.deliveriesPerSec : undefined,
    ],
    [
      '>= 5,000 deliveries/s sustained (fan-out 1, signed, acks=all, read_committed)',
      hub1 ? hub1.deliveriesPerSec >= 5000 : undefined,
    ],
    [
      'p50 end-to-end <= 15 ms at 60% of the maximum rate (fan-out 1)',
      hub1?.rate60?.latency ? hub1.rate60.latency.p50 <= 15 : undefined,
    ],
    [
      'p99 end-to-end <= 50 ms at 60% of the maximum rate (fan-out 1)',
      hub1?.rate60?.latency ? hub1.rate60.latency.p99 <= 50 : undefined,
    ],
    [
      'peak RSS <= 200 MB per service',
      results.some((r) => r.peakRssMb)
        ? results.every((r) => !r.peakRssMb || Object.values(r.peakRssMb).every((v) => v <= 200))
        : undefined,
    ],
    ['no RSS growth over the soak at 60% load (last sample <= first + 10% + 10 MB)', soakGrowth],
    ['DLT persistence >= 5,000 rows/s', dlt ? dlt.deliveriesPerSec >= 5000 : undefined],
    [
      'delivery-log persistence >= 5,000 rows/s (ledger rows of the fan-out 1 saturation run)',
      hub1?.ledger && Number.isFinite(hub1.ledger.rowsPerSec) ? hub1.ledger.rowsPerSec >= 5000 : undefined,
    ],
    [
      'ledger on >= 0.9x ledger off in deliveries/s (fan-out 1, same run)',
      ledgerBest ? ledgerBest.on >= 0.9 * ledgerBest.off : undefined,
    ],
    [
      'ledger lag back to 0 within 10 s after the saturation run (fan-out 1)',
      hub1?.ledger ? hub1.ledger.catchUpS <= 10 : undefined,
    ],
    ['bulk replay >= 2,000 events/s', replay ? replay.deliveriesPerSec >= 2000 : undefined],
    [
      `fan-out: CPU per delivery at the largest fan-out <= ${FANOUT_FLAT}x fan-out 1's (flat)`,
      fanoutCost ? fanoutCost.ratio <= FANOUT_FLAT : undefined,
    ],
    ['idle: <= 1% of a core per service', idle ? SERVICES.every((s) => (idle!.cpuPercent[s] ?? 0) <= 1) : undefined],
    ['idle hub at 10 events/s: p99 <= 25 ms', idle?.latency ? idle.latency.p99 <= 25 : undefined],
  ];
  console.log('\nTargets');
  for (const [name, met] of targets)
    console.log(`  ${met === undefined ? 'not measured' : met ? 'met  ' : 'UNMET'}  ${name}`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        events: EVENTS,
        partitions: PARTITIONS,
        results,
        growth,
        idle,
        ratios,
        targets,
      },
      null,
      2,
    ),
  );
  say(`results written to ${file}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(
    `bench failed: ${(err as Error).stack ?? err}\nIs another hub or broker using the machine? Re-run with fewer --events to narrow it down.`,
  );
  process.exit(1);
});
