/**
 * The hub the input and security scenarios (7-11) run against: the four services as real processes started by
 * the launcher (`startHub`, built entry points in dist/), a fresh Postgres database, a unique topic prefix,
 * ephemeral ports, every log line captured. Plus the few things every scenario needs around it: a kafkajs
 * client, an operator client, tenants with their own keys, and a probe that waits until subscriptions are live.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { generateApiKey } from '../../../pipeline/shared/auth/api-key';
import { generateHubKeySpec } from '../../../pipeline/shared/crypto/secret-box';
import { type HubClient, type HubUrls, hubClient, waitUntil } from '../../../scripts/demo/hub-client';
import type { ServiceName } from '../../../scripts/hub/services';
import { type Hub, type StartHubOptions, startHub } from '../../../scripts/hub/start-hub';
import { aRawEvent, type FixtureRecord, type RawPlatformEvent, rawRecord } from '../../fixtures/platform-events';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { TEST_NICENESS } from '../../support/niceness';

export interface SecurityHub {
  hub: Hub;
  db: TestDatabase;
  prefix: string;
  /** Every line the services wrote, `<service> <line>`. */
  logs: string[];
  kafka: Kafka;
  urls: HubUrls;
  operator: HubClient;
  /** Creates a TENANT key for `tenantId` (a fresh tenant id when omitted). */
  tenant(tenantId?: string): Promise<{ tenantId: string; key: string; keyId: string; client: HubClient }>;
  /** Produces records to the ingest topic in one batch (to `partition` when given, else by key). */
  produce(records: FixtureRecord[], partition?: number): Promise<void>;
  /**
   * Runs `fn`; when it fails or takes longer than `timeoutMs` (below jest's timeout, so the failure has a cause),
   * prints the service logs (the processes are gone after the run) and the last `step` reached.
   */
  withLogs<T>(fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
  /** Names the phase a scenario is in (shown when it fails or times out). */
  step(name: string): void;
  stop(): Promise<void>;
}

export interface SecurityHubOptions {
  name: string;
  endpointAllowHosts?: string;
  env?: Record<string, string>;
  serviceEnv?: StartHubOptions['serviceEnv'];
  services?: readonly ServiceName[];
  partitions?: number;
}

/** Short retry schedules (names from the services' config.ts) so failure paths take seconds. */
export const FAST_RETRIES: Record<string, string> = {
  MAX_ATTEMPTS: '2',
  RETRY_BASE_MS: '100',
  RETRY_MAX_MS: '300',
  SCHEDULER_INTERVAL_MS: '250',
  DELIVERY_RETRY_SCHEDULE: '1s,1s',
};

export async function startSecurityHub(opts: SecurityHubOptions): Promise<SecurityHub> {
  const logs: string[] = [];
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), `hub-${opts.name}-`));
  const prefix = `${opts.name}-${randomUUID().slice(0, 8)}`;
  let hub: Hub;
  try {
    hub = await startHub({
      dataDir,
      kafkaBrokers: process.env.KAFKA_BROKERS!,
      databaseUrl: db.url,
      topicPrefix: prefix,
      ingestTopic: `${prefix}.platform.events.v1`,
      partitions: opts.partitions ?? 2,
      ports: { 'subscription-api': 0, 'event-processor': 0, 'outbox-processor': 0, 'dlt-processor': 0 },
      services: opts.services,
      secrets: { HUB_ENCRYPTION_KEYS: generateHubKeySpec('rel'), OPERATOR_API_KEY: generateApiKey() },
      endpointAllowHosts: opts.endpointAllowHosts,
      lock: false,
      writeInfo: false,
      inheritEnv: false,
      env: { LOG_LEVEL: 'info', ...FAST_RETRIES, ...opts.env },
      serviceEnv: opts.serviceEnv,
      niceness: TEST_NICENESS,
      logSink: (service, line) => logs.push(`${service} ${line}`),
      log: (m) => logs.push(`launcher ${m}`),
      readyTimeoutMs: 90_000,
      stopTimeoutMs: 10_000,
    });
  } catch (err) {
    process.stdout.write(`---- hub start-up logs ----\n${logs.slice(-100).join('\n')}\n`);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const urls: HubUrls = {
    subscriptionApi: hub.urls['subscription-api']?.url ?? '',
    eventApi: hub.urls['event-processor']?.url ?? '',
    dltApi: hub.urls['dlt-processor']?.url ?? '',
  };
  const kafka = new Kafka({
    clientId: `${prefix}-test`,
    brokers: hub.kafka.brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  let producer: Producer | undefined;
  let step = 'start';
  const operator = hubClient(urls, hub.operatorApiKey);

  return {
    hub,
    db,
    prefix,
    logs,
    kafka,
    urls,
    operator,
    async tenant(tenantId = `t-${randomUUID().slice(0, 8)}`) {
      const { id, key } = await operator.createApiKey({ name: `${tenantId} key`, role: 'TENANT', tenantId });
      return { tenantId, key, keyId: id, client: hubClient(urls, key) };
    },
    async produce(records, partition) {
      if (!producer) {
        producer = kafka.producer();
        await producer.connect();
      }
      await producer.send({
        topic: hub.topics.ingest,
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition })),
      });
    },
    async withLogs(fn, timeoutMs = 270_000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          fn(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } catch (err) {
        process.stdout.write(`---- hub logs (last 200 lines) ----\n${logs.slice(-200).join('\n')}\n`);
        throw new Error(`${(err as Error).message} (at step: ${step})`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
    step(name) {
      step = name;
    },
    async stop() {
      await producer?.disconnect().catch(() => {});
      await hub.stop();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A raw platform USER CREATE event of `tenantId` (matches `USER_CREATE`). */
export function aUserCreated(tenantId: string, overrides: Partial<RawPlatformEvent> = {}): RawPlatformEvent {
  return aRawEvent({
    eventId: randomUUID(),
    tenantId,
    occurredAt: new Date().toISOString(),
    resourceId: `u-${randomUUID().slice(0, 6)}`,
    ...overrides,
  });
}

export const USER_CREATE = { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: 'CREATE' };

/**
 * Subscriptions reach the processors through the changelog topic. Instead of sleeping, send probe events until
 * `delivered(id)` says each probe arrived: then the processors know the subscription.
 */
export async function untilLive(
  h: SecurityHub,
  tenantId: string,
  delivered: (eventId: string) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const probes: string[] = [];
  await waitUntil(
    'a probe event delivered',
    async () => {
      if (probes.some(delivered)) return true;
      const probe = aUserCreated(tenantId);
      probes.push(probe.eventId);
      await h.produce([rawRecord(probe)]);
      await new Promise((r) => setTimeout(r, 700));
      return probes.some(delivered);
    },
    timeoutMs,
    0,
  );
}
