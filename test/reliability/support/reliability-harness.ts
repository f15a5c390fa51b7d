/**
 * What the process-level fault scenarios share: the hub as four real processes (the launcher the e2e test uses)
 * on a fresh database and topic prefix, one real HTTP subscriber per subscription (each on its own port, so each
 * is its own origin with its own connection pool, concurrency slots and breaker, as distinct subscribers are in
 * production), a fast raw-event producer, and the accounting of a run:
 *
 *   expected = every produced event x every subscription of its tenant
 *   delivered = a 2xx receipt with a valid Standard Webhooks signature at that subscription's receiver
 *   parked    = a replayable row in the DLT table (PENDING | RETRYING | HELD | FAILED) for that (event, subscription)
 *   lost      = expected pairs neither delivered nor parked
 *   duplicate = every 2xx receipt of a pair after its first
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { generateApiKey } from '../../../pipeline/shared/auth/api-key';
import { generateHubKeySpec } from '../../../pipeline/shared/crypto/secret-box';
import {
  type DemoSubscriber,
  type EndpointBehaviour,
  startDemoSubscriber,
} from '../../../scripts/demo/demo-subscriber';
import { type HubClient, hubClient, waitUntil } from '../../../scripts/demo/hub-client';
import { procStats } from '../../../scripts/hub/proc-stats';
import { SERVICE_NAMES } from '../../../scripts/hub/services';
import { type Hub, type StartHubOptions, startHub } from '../../../scripts/hub/start-hub';
import { aRawEvent, type RawPlatformEvent, rawRecord } from '../../fixtures/platform-events';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { TEST_NICENESS } from '../../support/niceness';

export { waitUntil };

const ANY_USER_CREATE = { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: 'CREATE' };

/**
 * Settings every reliability hub runs with (names from the services' config.ts): a crashed member's partitions
 * move within seconds (the broker's minimum session timeout) instead of 30 s; short retry schedules and HTTP
 * timeouts so failures reach the DLT within a run; a small per-endpoint cap and a breaker that trips within a
 * run, so the head-of-line scenario sees them act.
 */
export const RELIABILITY_ENV: Record<string, string> = {
  LOG_LEVEL: 'info',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  SESSION_TIMEOUT_MS: '6000',
  MAX_ATTEMPTS: '2',
  RETRY_BASE_MS: '100',
  RETRY_MAX_MS: '300',
  SCHEDULER_INTERVAL_MS: '250',
  // Two quick scheduled attempts (the old MAX_ATTEMPTS=2 of the DLT): failure scenarios end FAILED within a run.
  DELIVERY_RETRY_SCHEDULE: '1s,1s',
  HEADERS_TIMEOUT_MS: '1500',
  BODY_TIMEOUT_MS: '1500',
  REQUEST_TIMEOUT_MS: '2000',
  PER_ENDPOINT_CONCURRENCY: '8',
  BREAKER_WINDOW_MS: '5000',
  BREAKER_MIN_REQUESTS: '10',
  BREAKER_OPEN_MS: '1500',
  SHUTDOWN_GRACE_MS: '8000',
};

export interface RelHub {
  hub: Hub;
  db: TestDatabase;
  operator: HubClient;
  kafka: Kafka;
  ingestTopic: string;
  logs: string[];
  /** Runs `fn`; on failure prints the services' last log lines (the processes are gone after the run). */
  withLogs<T>(fn: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export async function startRelHub(
  label: string,
  opts: Partial<Pick<StartHubOptions, 'kafkaBrokers' | 'partitions' | 'serviceEnv' | 'onServiceExit'>> & {
    env?: Record<string, string>;
  } = {},
): Promise<RelHub> {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), `hub-rel-${label}-`));
  const prefix = `rel-${label}-${randomUUID().slice(0, 8)}`;
  const ingestTopic = `${prefix}.platform.events.v1`;
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > 20_000) logs.splice(0, 5_000);
  };
  let hub: Hub;
  try {
    hub = await startHub({
      dataDir,
      kafkaBrokers: opts.kafkaBrokers ?? process.env.KAFKA_BROKERS!,
      databaseUrl: db.url,
      topicPrefix: prefix,
      ingestTopic,
      partitions: opts.partitions ?? 3,
      ports: { 'subscription-api': 0, 'event-processor': 0, 'outbox-processor': 0, 'dlt-processor': 0 },
      secrets: { HUB_ENCRYPTION_KEYS: generateHubKeySpec('rel'), OPERATOR_API_KEY: generateApiKey() },
      lock: false,
      writeInfo: false,
      inheritEnv: false,
      onServiceExit: opts.onServiceExit ?? 'report',
      env: { ...RELIABILITY_ENV, ...opts.env },
      serviceEnv: opts.serviceEnv,
      niceness: TEST_NICENESS,
      logSink: (service, line) => keep(`${service} ${line}`),
      log: (m) => keep(m),
      readyTimeoutMs: 90_000,
      stopTimeoutMs: 15_000,
    });
  } catch (err) {
    process.stdout.write(`---- hub logs ----\n${logs.slice(-200).join('\n')}\n`);
    await db.drop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const kafka = new Kafka({
    clientId: `${prefix}-test`,
    brokers: hub.kafka.brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  return {
    hub,
    db,
    operator: hubClient(apiUrls(hub), hub.operatorApiKey),
    kafka,
    ingestTopic,
    logs,
    async withLogs(fn) {
      try {
        return await fn();
      } catch (err) {
        process.stdout.write(`---- hub logs (last 300 lines) ----\n${logs.slice(-300).join('\n')}\n`);
        throw err;
      }
    },
    async stop() {
      await hub.stop();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function apiUrls(hub: Hub) {
  return {
    subscriptionApi: hub.urls['subscription-api'].url,
    eventApi: hub.urls['event-processor'].url,
    dltApi: hub.urls['dlt-processor'].url,
  };
}

/** A fresh USER CREATE platform event of the tenant (unique id, occurring now). */
export function rawUserCreated(tenantId: string): RawPlatformEvent {
  const eventId = randomUUID();
  return aRawEvent({
    eventId,
    tenantId,
    resourceId: `u-${eventId.slice(0, 8)}`,
    occurredAt: new Date().toISOString(),
    traceId: randomUUID().replace(/-/g, ''),
    correlationId: randomUUID(),
  });
}

/** One subscriber of a tenant: its own HTTP server (own origin) and its subscription. */
export interface Target {
  name: string;
  subscriptionId: string;
  receiver: DemoSubscriber;
}

export interface Tenant {
  tenantId: string;
  targets: Target[];
  target(name: string): Target;
  stop(): Promise<void>;
}

/**
 * A tenant with one subscription (USER CREATE) per name, each delivered to its own subscriber server, answering
 * 2xx once configured. Returns once the processors know every subscription (probe events seen at each receiver).
 */
export async function createTenant(
  rel: RelHub,
  names: string[],
  extra:
    | Partial<Parameters<HubClient['createSubscription']>[0]>
    | ((name: string) => Partial<Parameters<HubClient['createSubscription']>[0]>) = {},
): Promise<Tenant> {
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  const { key } = await rel.operator.createApiKey({ name: `reliability ${tenantId}`, role: 'TENANT', tenantId });
  const client = hubClient(apiUrls(rel.hub), key);
  const targets: Target[] = [];
  for (const name of names) {
    const receiver = await startDemoSubscriber();
    const s = await client.createSubscription({
      match: ANY_USER_CREATE,
      endpointUrl: receiver.endpointUrl(name),
      ...(typeof extra === 'function' ? extra(name) : extra),
    });
    receiver.configure(name, { secret: s.signingSecret });
    targets.push({ name, subscriptionId: s.id, receiver });
  }
  await untilSubscriptionsAreLive(rel, tenantId, targets);
  return {
    tenantId,
    targets,
    target: (name) => {
      const t = targets.find((x) => x.name === name);
      if (!t) throw new Error(`no target ${name}`);
      return t;
    },
    stop: async () => {
      await Promise.all(targets.map((t) => t.receiver.stop()));
    },
  };
}

export function configure(t: Target, behaviour: EndpointBehaviour): void {
  t.receiver.configure(t.name, behaviour);
}

/**
 * Subscriptions reach the processors through the changelog topic. Instead of sleeping, send probe events (not
 * counted by the scenarios) until every receiver has had one.
 */
async function untilSubscriptionsAreLive(rel: RelHub, tenantId: string, targets: Target[]): Promise<void> {
  const probes = new Set<string>();
  const seen = () =>
    targets.every((t) => t.receiver.receipts(t.name).some((r) => probes.has(r.webhookId) && r.status < 300));
  const producer = rel.kafka.producer();
  await producer.connect();
  try {
    await waitUntil(
      `a probe event at ${targets.map((t) => t.name).join(', ')}`,
      async () => {
        if (seen()) return true;
        const probe = rawUserCreated(tenantId);
        probes.add(probe.eventId);
        await producer.send({ topic: rel.ingestTopic, messages: [toMessage(probe)] });
        await new Promise((r) => setTimeout(r, 700));
        return seen();
      },
      60_000,
      0,
    );
  } finally {
    await producer.disconnect();
  }
}

const toMessage = (event: RawPlatformEvent) => rawRecord(event);

/** A paced producer of raw platform events, keeping each event's send time (for latency). */
export interface EventStream {
  ids: string[];
  sentAt: Map<string, number>;
  /** Resolves when every event is acknowledged by the broker. */
  done: Promise<void>;
}

/**
 * Produces `count` USER CREATE events for the tenant at about `perSecond` (in batches of `batch`), retrying a
 * batch while the broker is away (a retried batch may land twice: the same event ids, i.e. duplicates, never
 * losses). `onProgress(sent)` runs after each batch; the fault schedule hangs on it.
 */
export function produceEvents(
  rel: RelHub,
  tenantId: string,
  count: number,
  opts: { perSecond: number; batch?: number; onProgress?: (sent: number) => void } = { perSecond: 1000 },
): EventStream {
  const batch = opts.batch ?? 50;
  const ids: string[] = [];
  const sentAt = new Map<string, number>();
  const done = (async () => {
    const producer: Producer = rel.kafka.producer({ retry: { retries: 3, initialRetryTime: 200 } });
    await connectRetrying(producer);
    try {
      const started = Date.now();
      for (let sent = 0; sent < count; ) {
        const n = Math.min(batch, count - sent);
        const events = Array.from({ length: n }, () => rawUserCreated(tenantId));
        for (;;) {
          try {
            const at = Date.now();
            await producer.send({ topic: rel.ingestTopic, messages: events.map(toMessage) });
            for (const e of events) {
              ids.push(e.eventId);
              sentAt.set(e.eventId, at);
            }
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        sent += n;
        opts.onProgress?.(sent);
        const due = started + (sent / opts.perSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
  })();
  return { ids, sentAt, done };
}

async function connectRetrying(producer: Producer): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await producer.connect();
      return;
    } catch (err) {
      if (i > 60) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export interface Accounting {
  /** (event, subscription) pairs expected. */
  expected: number;
  delivered: number;
  /** Pairs not delivered but parked in the DLT table, replayable. */
  parked: number;
  lost: number;
  /** A few lost pairs, for the failure message. */
  lostSample: string[];
  duplicates: number;
  /** Receipts of the run's events with an invalid signature. */
  badSignatures: number;
  /** Receipts whose webhook-id differs from the event id (a duplicate must carry the same webhook-id). */
  foreignWebhookIds: number;
}

const REPLAYABLE = ['PENDING', 'RETRYING', 'HELD', 'FAILED'];

/** The run's figures now: receipts at every target plus the DLT table of the hub's database. */
export async function account(rel: RelHub, targets: Target[], ids: readonly string[]): Promise<Accounting> {
  const wanted = new Set(ids);
  const rows = await rel.db.prisma.failedEvent.findMany({
    where: { subscriptionId: { in: targets.map((t) => t.subscriptionId) }, status: { in: REPLAYABLE } },
    select: { eventId: true, subscriptionId: true },
  });
  const parkedPairs = new Set(rows.map((r) => `${r.subscriptionId}:${r.eventId}`));
  const out: Accounting = {
    expected: ids.length * targets.length,
    delivered: 0,
    parked: 0,
    lost: 0,
    lostSample: [],
    duplicates: 0,
    badSignatures: 0,
    foreignWebhookIds: 0,
  };
  for (const t of targets) {
    const okCount = new Map<string, number>();
    for (const r of t.receiver.receipts(t.name)) {
      // The CloudEvent id is the event's identity; the webhook-id must equal it on every attempt and duplicate.
      const id = r.ce.id ?? r.webhookId;
      if (!wanted.has(id)) continue;
      if (r.webhookId !== id) out.foreignWebhookIds++;
      if (!r.signatureValid) out.badSignatures++;
      else if (r.status >= 200 && r.status < 300) okCount.set(id, (okCount.get(id) ?? 0) + 1);
    }
    for (const id of ids) {
      const n = okCount.get(id) ?? 0;
      if (n > 0) {
        out.delivered++;
        out.duplicates += n - 1;
      } else if (parkedPairs.has(`${t.subscriptionId}:${id}`)) out.parked++;
      else {
        out.lost++;
        if (out.lostSample.length < 5) out.lostSample.push(`${t.name}:${id}`);
      }
    }
  }
  return out;
}

/**
 * Waits (at most `timeoutMs`) until nothing is lost, then until the receivers have been quiet for `quietMs`
 * (2xx receipts only: late redeliveries are counted as duplicates), and returns the final figures.
 */
export async function drain(
  rel: RelHub,
  targets: Target[],
  ids: readonly string[],
  timeoutMs: number,
  quietMs = 2_000,
): Promise<Accounting & { drainMs: number }> {
  const started = Date.now();
  await waitUntil(
    'every pair delivered or parked',
    async () => (await account(rel, targets, ids)).lost === 0,
    timeoutMs,
    500,
  ).catch(() => undefined); // the figures below say what is missing
  // Only 2xx receipts can be duplicates; failing or hanging subscribers keep being retried from the DLT.
  const receiptCount = () =>
    targets.reduce(
      (n, t) => n + t.receiver.receipts(t.name).filter((r) => r.status >= 200 && r.status < 300).length,
      0,
    );
  let last = receiptCount();
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs && Date.now() - started < timeoutMs + quietMs) {
    await new Promise((r) => setTimeout(r, 250));
    const now = receiptCount();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
  return { ...(await account(rel, targets, ids)), drainMs: Date.now() - started };
}

export const percent = (part: number, whole: number) =>
  `${whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 100}%`;

/** The p-th percentile (0-100) of `values` (nearest rank). */
/** The machine's CPU time (busy and total jiffies, /proc/stat) and each hub service's CPU seconds, now. */
export interface CpuSample {
  busy: number;
  total: number;
  services: Record<string, number>;
}

export function cpuSample(rel: RelHub): CpuSample {
  let stat = '';
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    // Not Linux: the machine figures read 0.
  }
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const services: Record<string, number> = {};
  for (const name of SERVICE_NAMES)
    services[name] = rel.hub.instances(name).reduce((sum, inst) => sum + procStats(inst.child.pid).cpuSec, 0);
  return { busy: total - idle, total, services };
}

/** Machine CPU busy % and the CPU seconds each service used between two samples. */
export function cpuBetween(a: CpuSample, b: CpuSample): { boxBusyPct: number; serviceCpuSec: Record<string, number> } {
  const serviceCpuSec: Record<string, number> = {};
  for (const k of Object.keys(b.services))
    serviceCpuSec[k] = Math.round(((b.services[k] ?? 0) - (a.services[k] ?? 0)) * 10) / 10;
  const total = b.total - a.total;
  return { boxBusyPct: total > 0 ? Math.round((100 * (b.busy - a.busy)) / total) : 0, serviceCpuSec };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The delivery figures every loss scenario records, in display order. */
export function deliveryFigures(r: Accounting): Record<string, string | number> {
  return {
    pairs: r.expected,
    delivered: r.delivered,
    'parked in DLT': r.parked,
    lost: r.lost,
    duplicates: `${r.duplicates} (${percent(r.duplicates, r.expected)})`,
    'duplicates with another webhook-id': r.foreignWebhookIds,
    'bad signatures': r.badSignatures,
  };
}

/** Nothing lost, every receipt signed validly, every duplicate under the event's own webhook-id. */
export function expectNothingLost(r: Accounting): void {
  expect(r.lostSample).toEqual([]);
  expect(r.lost).toBe(0);
  expect(r.foreignWebhookIds).toBe(0);
  expect(r.badSignatures).toBe(0);
}
