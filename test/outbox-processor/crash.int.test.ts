/**
 * The real outbox-processor entry point as a child process (`pipeline/outbox-processor/main.ts`, environment
 * configuration), SIGKILLed in the middle of a run and restarted: every (event, subscription) pair must reach
 * its subscriber at least once, with a valid signature. Duplicates are counted and reported, not asserted.
 * Then a SIGTERM must drain, commit everything and exit 0.
 *
 * A dlt-processor runs alongside, as in a deployment: on a loaded machine an ordered lane whose head is slow parks
 * its later records in Postgres (LANE_WAIT), and those of the killed instance are released and delivered by the
 * dlt-processor's scheduler, in lane order (nothing else would deliver them).
 *
 * A third subscription per tenant is batched (`batch: { maxEvents: 20, maxWaitMs: 200 }`): with events flowing, its
 * batches are open (records taken from Kafka, uncommitted, not yet sent) whenever the kill lands, and each of their
 * events must still arrive, once unpacked from some signed batch.
 *
 * Default run: 3,000 deliveries. Long profile (HUB_TEST_PROFILE=long): 30,000.
 */
import { Webhook } from 'standardwebhooks';
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { encodeSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { DOMAINS } from '../../pipeline/shared/topics';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testKafka, uniqueName, waitFor, waitForCommittedToEnd } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { type Child, killChild, spawnProcessor } from './child';
import { anEvent, outboxRecord, type Stage, startStage, whsec } from './harness';

const EVENTS = process.env.HUB_TEST_PROFILE === 'long' ? 10_000 : 1_000;
const NAMES = ['a', 'b', 'c'] as const;
type Name = (typeof NAMES)[number];
const DELIVERIES = EVENTS * NAMES.length;
const TENANTS = 20;

jest.setTimeout(DELIVERIES > 5_000 ? 600_000 : 180_000);

describe('outbox-processor killed with SIGKILL mid-run', () => {
  let stage: Stage;
  let receiver: Receiver;
  let child: Child | undefined;
  let dltChild: Child | undefined;
  // The outbox-processor parks ordered lanes in Postgres: a database of its own.
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await killChild(child);
    await killChild(dltChild);
    await receiver?.close();
    await stage?.stop();
    await db?.drop();
  });

  it(`delivers every one of ${DELIVERIES} deliveries at least once across a SIGKILL and a restart`, async () => {
    stage = await startStage({ outboxPartitions: 3 });
    const groupId = uniqueName('outbox-crash');
    const secrets = { a: whsec(), b: whsec(), c: whsec() };
    const valid = { a: new Webhook(secrets.a), b: new Webhook(secrets.b), c: new Webhook(secrets.c) };
    let badSignatures = 0;
    let batches = 0;
    const seen = new Map<string, number>();
    let total = 0;
    receiver = await startReceiver((req, res) => {
      const which = req.path.slice(1) as Name;
      try {
        valid[which].verify(req.body.toString(), req.headers as Record<string, string>);
      } catch {
        badSignatures++;
      }
      // A batch (/c) carries its events as a JSON array of structured CloudEvents: each counts as its delivery.
      const ids =
        which === 'c'
          ? (JSON.parse(req.body.toString()) as { id: string }[]).map((e) => e.id)
          : [String(req.headers['webhook-id'])];
      if (which === 'c') batches++;
      for (const id of ids) {
        const key = `${which}:${id}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        total++;
      }
      // A little latency so that many deliveries are in flight when the kill lands.
      setTimeout(() => res.writeHead(204).end(), Math.floor(Math.random() * 4));
    });

    // Subscriptions straight onto the changelog (secrets sealed like subscription-api does): per tenant, one
    // unordered binary-mode subscription (/a), one ordered structured-mode one (/b) and one batched one (/c).
    const perTenant = new Map<string, SubscriptionSnapshot[]>();
    const snapshots: SubscriptionSnapshot[] = [];
    for (let t = 0; t < TENANTS; t++) {
      const tenantId = `tenant-${t}`;
      const pair = NAMES.map((name) => {
        const id = uniqueName(`sub-${name}-${t}`);
        return aSnapshot({
          id,
          tenantId,
          endpointUrl: `${receiver.url}/${name}`,
          contentMode: name === 'a' ? 'BINARY' : 'STRUCTURED',
          ordered: name === 'b',
          ...(name === 'c' ? { batch: { maxEvents: 20, maxWaitMs: 200 } } : {}),
          signing: { current: stage.box.seal(secrets[name], id) },
        });
      });
      perTenant.set(tenantId, pair);
      snapshots.push(...pair);
    }
    await stage.producer.send({
      topic: stage.topics.subscriptions,
      acks: -1,
      messages: snapshots.map((s) => ({ key: s.id, value: encodeSnapshot(s) })),
    });

    // The outbox: EVENTS events x 3 subscriptions, over 4 domains and 20 tenants.
    const expected = new Set<string>();
    const batch: { topic: string; messages: ReturnType<typeof outboxRecord>[] }[] = DOMAINS.map((d) => ({
      topic: stage.topics.outbox(d),
      messages: [],
    }));
    for (let i = 0; i < EVENTS; i++) {
      const tenant = `tenant-${i % TENANTS}`;
      const event = anEvent({ extensions: { tenantid: tenant, seq: String(i) } });
      const domainIndex = i % DOMAINS.length;
      for (const s of perTenant.get(tenant)!) {
        batch[domainIndex]!.messages.push(outboxRecord(event, s.id, DOMAINS[domainIndex]));
        expected.add(`${s.endpointUrl.slice(-1)}:${event.id}`);
      }
    }
    for (let off = 0; ; off += 500) {
      const chunk = batch
        .map((b) => ({ topic: b.topic, messages: b.messages.slice(off, off + 500) }))
        .filter((b) => b.messages.length > 0);
      if (chunk.length === 0) break;
      await stage.producer.sendBatch({ acks: -1, topicMessages: chunk });
    }
    expect(expected.size).toBe(DELIVERIES);

    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      TOPIC_PREFIX: stage.prefix,
      GROUP_ID: groupId,
      PORT: '0',
      HOST: '127.0.0.1',
      HUB_ENCRYPTION_KEYS: stage.keySpec,
      DATABASE_URL: db!.url,
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
      LOG_LEVEL: process.env.CRASH_LOG_LEVEL ?? 'warn',
      SESSION_TIMEOUT_MS: '6000',
      MAX_IN_FLIGHT: '400',
    };
    dltChild = spawnProcessor(
      {
        ...env,
        GROUP_ID: `${groupId}-dlt`,
        SCHEDULER_INTERVAL_MS: '200',
        LANE_WAIT_RELEASE_MS: '1000',
        DELIVERY_RETRY_SCHEDULE: '1s,1s,1s',
      },
      'dlt-processor',
    );
    const started = Date.now();
    child = spawnProcessor(env);
    const uniqueCount = () => [...seen.keys()].filter((k) => expected.has(k)).length;
    // Batches are being sent (so others are open) and 30% delivered.
    await waitFor(() => (uniqueCount() >= DELIVERIES * 0.3 && batches > 0) || child!.proc.exitCode !== null, {
      timeoutMs: 90_000,
      intervalMs: 5,
      what: `30% of ${DELIVERIES} deliveries and a batch before the kill`,
    }).catch((err: Error) => {
      throw new Error(`${err.message} (${uniqueCount()}); child output:\n${child!.output.slice(-80).join('\n')}`);
    });
    expect(child.proc.exitCode).toBeNull();
    child.proc.kill('SIGKILL');
    await child.exited;
    const atKill = { unique: uniqueCount(), total, batched: [...seen.keys()].filter((k) => k.startsWith('c:')).length };

    child = spawnProcessor(env);
    await waitFor(() => uniqueCount() === DELIVERIES, {
      timeoutMs: DELIVERIES > 5_000 ? 400_000 : 120_000,
      intervalMs: 100,
      what: `all ${DELIVERIES} deliveries after the restart`,
    }).catch((err: Error) => {
      // The child's output as it is at the failure, not when the wait began.
      throw new Error(`${err.message} (${uniqueCount()}); child output:\n${child!.output.slice(-80).join('\n')}`);
    });
    const elapsed = Date.now() - started;
    // Stragglers (redeliveries of what was in flight) reach the receiver before their offsets are committed: once
    // the committed offsets reach the end of every outbox topic, the duplicates are all counted.
    await waitForCommittedToEnd(
      groupId,
      DOMAINS.map((d) => stage.topics.outbox(d)),
      {
        timeoutMs: 60_000,
        what: 'committed offsets at the end of every outbox topic',
      },
    );
    const duplicates = total - seen.size;
    const maxCopies = Math.max(...seen.values());
    const dupsOf = (prefix: string) =>
      [...seen].filter(([k]) => k.startsWith(prefix)).reduce((n, [, copies]) => n + copies - 1, 0);
    console.log(
      `[outbox SIGKILL] ${DELIVERIES} deliveries; killed after ${atKill.unique} unique (${atKill.total} received); ` +
        `after restart all ${uniqueCount()} delivered in ${elapsed} ms total; duplicates ${duplicates} ` +
        `(${((100 * duplicates) / DELIVERIES).toFixed(2)}%: unordered ${dupsOf('a:')}, ordered ${dupsOf('b:')}, ` +
        `batched ${dupsOf('c:')}; ${atKill.batched} batched events had arrived at the kill, in ${batches} batches by the end), ` +
        `max copies of one delivery ${maxCopies}; ` +
        `bad signatures ${badSignatures}`,
    );
    expect([...expected].every((k) => seen.has(k))).toBe(true);
    expect([...seen.keys()].every((k) => expected.has(k))).toBe(true);
    expect(badSignatures).toBe(0);

    // Graceful stop: drains, commits everything, leaves the group, exits 0.
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    const admin = testKafka().admin();
    await admin.connect();
    try {
      for (const d of DOMAINS) {
        const topic = stage.topics.outbox(d);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const ends = await admin.fetchTopicOffsets(topic);
        for (const p of ends) {
          const c = committed!.partitions.find((x) => x.partition === p.partition)?.offset;
          // An empty partition has nothing to commit (-1).
          expect({ topic, partition: p.partition, committed: c === '-1' && p.high === '0' ? '0' : c }).toEqual({
            topic,
            partition: p.partition,
            committed: p.high,
          });
        }
      }
    } finally {
      await admin.disconnect();
    }
  });
});
