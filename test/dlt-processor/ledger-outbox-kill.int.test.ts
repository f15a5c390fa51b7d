/**
 * The dlt-processor as a real child process (its main.ts, environment configuration), SIGKILLed in the middle of a
 * stream of scheduled retries while its ledger relay cannot produce (the broker refuses every record of the ledger
 * topic: its max.message.bytes is lowered), so that committed steps wait in the ledger outbox at the instant of the
 * kill. Restarted, with the topic taking records again: every scheduled attempt of the parked rows' log is in the
 * ledger exactly once, the outbox is empty, and the only requests the ledger lacks are those in flight at the kill
 * (sent, but recorded nowhere: the row's transaction never ran; the claim expires and the retry is made again).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ConfigResourceTypes, type Producer } from 'kafkajs';
import pino from 'pino';
import { toKafkaBinary } from '../../pipeline/shared/cloudevents/envelope';
import { generateHubKeySpec, parseHubKeys, SecretBox } from '../../pipeline/shared/crypto/secret-box';
import { startSubscriptionDirectory } from '../../pipeline/shared/subscriptions/directory.kafka';
import { HUB_HEADERS, topicNames } from '../../pipeline/shared/topics';
import { type Child, killChild } from '../outbox-processor/child';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { brokers, testKafka, uniqueName, waitFor } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { publishSubscription } from '../support/subscriptions';
import { anEvent } from './harness';

jest.setTimeout(240_000);

const DELIVERIES = 200;
/** Each delivery fails this many requests (503), then is delivered: 6 scheduled attempts, 1 s apart. */
const FAILURES = 5;
const CONCURRENCY = 8;
const ROOT = join(__dirname, '..', '..');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('dlt-processor SIGKILLed mid-stream of scheduled retries', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let child: Child | undefined;
  let producer: Producer | undefined;
  afterAll(async () => {
    await killChild(child);
    await producer?.disconnect().catch(() => {});
    await receiver?.close();
    await db?.drop();
  });

  it('loses no scheduled attempt from the ledger when killed with steps waiting in the ledger outbox', async () => {
    db = await createTestDatabase();
    const prefix = uniqueName('hub');
    const topics = topicNames(prefix);
    const keySpec = generateHubKeySpec('kill');
    const box = new SecretBox(parseHubKeys(keySpec));
    const seen = new Map<string, number>();
    receiver = await startReceiver((req, res) => {
      const id = String(req.headers['webhook-id']);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      // A little latency, so that requests are in flight when the kill lands.
      setTimeout(() => res.writeHead(n > FAILURES ? 204 : 503).end(), Math.floor(Math.random() * 5));
    });
    const env = (port: number) => ({
      KAFKA_BROKERS: brokers().join(','),
      TOPIC_PREFIX: prefix,
      GROUP_ID: `${prefix}-dlt`,
      DATABASE_URL: db.url,
      HUB_ENCRYPTION_KEYS: keySpec,
      PORT: String(port),
      HOST: '127.0.0.1',
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
      SCHEDULER_INTERVAL_MS: '100',
      SCHEDULER_CONCURRENCY: String(CONCURRENCY),
      DELIVERY_RETRY_SCHEDULE: Array(FAILURES + 1)
        .fill('1s')
        .join(','),
      // A row claimed by the killed instance is free again soon after.
      CLAIM_LEASE_MS: '2000',
      SESSION_TIMEOUT_MS: '6000',
      TOPIC_PARTITIONS: '2',
      LOG_LEVEL: 'info',
    });
    const start = async () => {
      const port = await freePort();
      const c = spawnDltProcessor(env(port));
      child = c;
      await Promise.race([
        waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, {
          timeoutMs: 90_000,
          what: 'dlt-processor ready',
        }),
        c.exited.then((code) => {
          throw new Error(`dlt-processor exited (${code}):\n${c.output.slice(-30).join('\n')}`);
        }),
      ]);
      return c;
    };
    const unresolved = () => db.prisma.failedEvent.count({ where: { status: { notIn: ['DELIVERED'] } } });

    const first = await start();
    const kafka = testKafka('dlt-kill-test');
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const directory = await startSubscriptionDirectory({
      kafka,
      topic: topics.subscriptions,
      log: pino({ level: 'silent' }),
    });
    await directory.ready();
    const sub = await publishSubscription(
      { producer, topic: topics.subscriptions, box, directory },
      { endpointUrl: receiver.url },
    );
    await directory.stop();
    const events = Array.from({ length: DELIVERIES }, () => anEvent());
    await producer.send({
      topic: topics.dlt('organization'),
      acks: -1,
      messages: events.map((event) => {
        const rec = toKafkaBinary(event, {
          [HUB_HEADERS.subscriptionId]: sub.id,
          [HUB_HEADERS.tenantId]: 'tenant-a',
          [HUB_HEADERS.domain]: 'organization',
          [HUB_HEADERS.dltAttempts]: '3',
          [HUB_HEADERS.dltLastStatus]: '503',
          [HUB_HEADERS.dltLastErrorCode]: 'DELIVERY.HTTP_503',
        });
        return { key: 'tenant-a', value: rec.value, headers: rec.headers };
      }),
    });

    // The first round of scheduled attempts is made, and attempts reach the ledger through the relay...
    await waitFor(async () => receiver.received.length >= DELIVERIES && (await db.prisma.ledgerAttempt.count()) > 0, {
      timeoutMs: 60_000,
      what: 'the first round made and scheduled attempts in the ledger',
    });
    // ...then the ledger topic refuses every record: the relay fails and the steps wait in the outbox.
    const admin = kafka.admin();
    await admin.connect();
    let waiting = 0;
    let sentAtKill = 0;
    const topicConfig = (entries: { name: string; value: string }[]) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topics.ledger, configEntries: entries }],
      });
    try {
      await topicConfig([{ name: 'max.message.bytes', value: '100' }]);
      await waitFor(async () => (await db.prisma.ledgerOutbox.count()) >= 50, {
        timeoutMs: 30_000,
        what: 'steps waiting in the ledger outbox',
      });
      // Mid-stream: deliveries are still being retried when the kill lands.
      expect(await unresolved()).toBeGreaterThan(0);
      // The relay had tried and failed (the records were refused, not merely slow).
      expect(first.output.join('\n')).toMatch(/ledger outbox not relayed/);
      first.proc.kill('SIGKILL');
      await first.exited;
      waiting = await db.prisma.ledgerOutbox.count();
      expect(waiting).toBeGreaterThanOrEqual(50);
      sentAtKill = receiver.received.length;
      expect(sentAtKill).toBeLessThan(DELIVERIES * (FAILURES + 1));

      // Back: the topic takes records again (its override removed), a fresh instance starts.
      await topicConfig([]);
      await start();
    } finally {
      await admin.disconnect();
    }

    const books = await waitFor(
      async () => {
        if ((await unresolved()) > 0 || (await db.prisma.ledgerOutbox.count()) > 0) return undefined;
        const scheduled = await db.prisma.deliveryAttempt.findMany({
          where: { source: 'SCHEDULED' },
          include: { failedEvent: { select: { eventId: true } } },
        });
        const ledger = await db.prisma.ledgerAttempt.findMany({ where: { source: 'SCHEDULED' } });
        return ledger.length >= scheduled.length ? { scheduled, ledger } : undefined;
      },
      { timeoutMs: 120_000, what: 'every delivery DELIVERED and the ledger caught up' },
    );
    const rows = await db.prisma.failedEvent.findMany();
    const deliveries = await db.prisma.ledgerDelivery.findMany();
    expect(rows).toHaveLength(DELIVERIES);
    expect(deliveries).toHaveLength(DELIVERIES);
    // Exactly once: each delivery's ledger attempts are its parked row's scheduled attempts, one for one.
    expect(books.ledger).toHaveLength(books.scheduled.length);
    for (const row of rows) {
      const logged = books.scheduled.filter((a) => a.failedEventId === row.id).length;
      const inLedger = books.ledger.filter((a) => a.eventId === row.eventId).length;
      expect({ eventId: row.eventId, inLedger }).toEqual({ eventId: row.eventId, inLedger: logged });
      expect(row.attempts).toBe(logged);
      expect(deliveries.find((d) => d.eventId === row.eventId)).toMatchObject({
        status: 'DELIVERED',
        attempts: logged,
        lastStatusCode: 204,
      });
      // The subscriber saw every attempt in the ledger (and at most the unrecorded ones in flight at the kill).
      expect(seen.get(row.eventId)).toBeGreaterThanOrEqual(inLedger);
    }
    const unrecorded = receiver.received.length - books.ledger.length;
    console.log(
      `ledger outbox kill: ${waiting} outbox rows at the kill, ${sentAtKill} requests before it, ${receiver.received.length} in all, ${books.ledger.length} attempts in the ledger, ${unrecorded} in flight at the kill (unrecorded)`,
    );
    expect(unrecorded).toBeGreaterThanOrEqual(0);
    expect(unrecorded).toBeLessThanOrEqual(CONCURRENCY);

    child!.proc.kill('SIGTERM');
    expect(await child!.exited).toBe(0);
  });
});

/** The dlt-processor's main.ts as a child process (as test/outbox-processor/child.ts does for its processor). */
function spawnDltProcessor(env: Record<string, string>): Child {
  const proc = spawn(
    process.execPath,
    ['-r', join(ROOT, 'test/support/swc-register.js'), join(ROOT, 'pipeline/dlt-processor/main.ts')],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > 300) output.splice(0, output.length - 300);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output, exited };
}
