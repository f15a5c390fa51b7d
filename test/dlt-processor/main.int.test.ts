/**
 * The dlt-processor as a real child process from its own main.ts with environment configuration: migrates on
 * start when asked, creates its topics, persists a DLT record, retries it to the subscriber, serves the operator
 * API and metrics, and leaves cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { generateApiKey } from '../../pipeline/shared/auth/api-key';
import { ApiKeyStorePrisma } from '../../pipeline/shared/auth/api-key-store.prisma';
import { ensureOperatorKey } from '../../pipeline/shared/auth/bootstrap';
import { toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { encodeLedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import { HUB_HEADERS, topicNames } from '../../pipeline/shared/topics';
import { createTestDatabase } from '../support/db';
import { brokers, testKafka, uniqueName, waitFor } from '../support/kafka';
import { startReceiver } from '../support/receiver';
import { publishSubscription } from '../support/subscriptions';
import { anEvent } from './harness';

jest.setTimeout(120_000);
const ROOT = join(__dirname, '..', '..');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('dlt-processor main', () => {
  it('starts from env config (MIGRATE_ON_START), persists and retries a DLT record, and drains on SIGTERM', async () => {
    const db = await createTestDatabase({ migrate: false });
    const prefix = uniqueName('hub');
    const topics = topicNames(prefix);
    const keySpec = generateHubKeySpec('main');
    const box = new SecretBox(parseHubKeys(keySpec));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const r = await startReceiver();
    const output: string[] = [];
    let child: ChildProcess | undefined;
    const kafka = testKafka('dlt-main-test');
    const producer = kafka.producer({ idempotent: true });
    try {
      child = spawn(
        process.execPath,
        ['-r', join(ROOT, 'test/support/swc-register.js'), join(ROOT, 'pipeline/dlt-processor/main.ts')],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH,
            KAFKA_BROKERS: brokers().join(','),
            TOPIC_PREFIX: prefix,
            GROUP_ID: uniqueName('dlt-main'),
            DATABASE_URL: db.url,
            HUB_ENCRYPTION_KEYS: keySpec,
            MIGRATE_ON_START: 'true',
            PORT: String(port),
            HOST: '127.0.0.1',
            ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
            SCHEDULER_INTERVAL_MS: '200',
            DELIVERY_RETRY_SCHEDULE: '1s,1s',
            STATS_REFRESH_MS: '200',
            TOPIC_PARTITIONS: '2',
            LOG_LEVEL: 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<number | null>((res) => child!.once('exit', (code) => res(code)));
      for (const s of [child.stdout!, child.stderr!])
        s.on('data', (d: Buffer) => output.push(...d.toString().split('\n')));
      const alive = async <T>(p: Promise<T>) =>
        Promise.race([
          p,
          exited.then((code) => {
            throw new Error(`dlt-processor exited (${code}):\n${output.slice(-30).join('\n')}`);
          }),
        ]);
      await alive(
        waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, {
          timeoutMs: 60_000,
          what: 'dlt-processor ready',
        }),
      );
      const operatorKey = generateApiKey();
      await ensureOperatorKey(new ApiKeyStorePrisma(db.prisma), operatorKey);
      const auth = { authorization: `Bearer ${operatorKey}` };

      await producer.connect();
      const directory = await startSubscriptionDirectory({
        kafka,
        topic: topics.subscriptions,
        log: pino({ level: 'silent' }),
      });
      await directory.ready();
      const sub = await publishSubscription(
        { producer, topic: topics.subscriptions, box, directory },
        { endpointUrl: r.url },
      );
      await directory.stop();
      const event = anEvent();
      const rec = toKafkaBinary(event, {
        [HUB_HEADERS.subscriptionId]: sub.id,
        [HUB_HEADERS.tenantId]: 'tenant-a',
        [HUB_HEADERS.domain]: 'organization',
        [HUB_HEADERS.dltAttempts]: '3',
        [HUB_HEADERS.dltLastStatus]: '503',
        [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
      });
      await producer.send({
        topic: topics.dlt('organization'),
        acks: -1,
        messages: [{ key: 'tenant-a', value: rec.value, headers: rec.headers }],
      });
      const delivered = await alive(
        waitFor(
          async () => {
            const res = await fetch(`${base}/v1/failed-events?tenantId=tenant-a`, { headers: auth });
            const list = (await res.json()) as { items?: { status: string }[] };
            return list.items?.[0]?.status === 'DELIVERED' ? list.items[0] : undefined;
          },
          { timeoutMs: 30_000, what: 'row DELIVERED through the API' },
        ),
      );
      expect(delivered).toMatchObject({ eventId: event.id, subscriptionId: sub.id, domain: 'organization' });
      expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([event.id]);
      await waitFor(
        async () => {
          const m = await (await fetch(`${base}/metrics`)).text();
          return (
            /hub_dlt_failed_events\{status="DELIVERED"\} 1/.test(m) &&
            /hub_dlt_redeliveries_total\{source="SCHEDULED",outcome="DELIVERED"\} 1/.test(m)
          );
        },
        { what: 'metrics' },
      );
      // The ledger writer runs (LEDGER_ENABLED defaults to true): a ledger record becomes a row.
      const ledgerEvent = {
        kind: 'event' as const,
        at: new Date().toISOString(),
        eventId: event.id,
        tenantId: 'tenant-a',
        type: event.type,
        source: event.source,
        match: { sourceService: 'identity', eventType: event.type, resourceType: 'user', operationType: 'create' },
        domain: 'organization',
        receivedAt: new Date().toISOString(),
        subscriptionIds: [sub.id],
        payload: { headers: {}, body: event.data.toString('base64') },
      };
      await producer.send({
        topic: topics.ledger,
        acks: -1,
        messages: [{ key: 'tenant-a', value: encodeLedgerRecord(ledgerEvent) }],
      });
      await alive(
        waitFor(async () => (await db.prisma.ledgerEvent.count({ where: { eventId: event.id } })) === 1, {
          timeoutMs: 30_000,
          what: 'ledger rows',
        }),
      );
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
        /hub_ledger_rows_written_total\{table="LedgerEvent"\} 1/,
      );

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output.join('\n')).toMatch(/stopped/);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await producer.disconnect().catch(() => {});
      await r.close();
      await db.drop();
    }
  });
});
