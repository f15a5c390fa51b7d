/**
 * A second outbox-processor instance joins the group while the first is delivering a stream to a slow subscriber
 * (200 ms per request, so dozens of deliveries are in flight at the rebalance). The first instance must finish
 * and commit what it has in flight, and leave what it has not started, before it re-joins: the partitions' new
 * owner then starts after those records, and no delivery arrives twice.
 *
 * Both instances are the real entry point as child processes (`child.ts`), on the real broker.
 */
import type { SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { encodeSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { aSnapshot } from '../fixtures/subscriptions';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { uniqueName, waitFor, waitForCommittedToEnd } from '../support/kafka';
import { type Receiver, startReceiver } from '../support/receiver';
import { type Child, killChild, spawnProcessor } from './child';
import { anEvent, outboxRecord, type Stage, startStage, whsec } from './harness';

const EVENTS = 1_000;
const TENANTS = 12;
const RESPONSE_MS = 200;

jest.setTimeout(180_000);

describe('outbox-processor group rebalance', () => {
  let stage: Stage;
  let receiver: Receiver;
  const children: Child[] = [];
  // The outbox-processor parks ordered lanes in Postgres: a database of its own.
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(children.map(killChild));
    await receiver?.close();
    await stage?.stop();
    await db?.drop();
  });

  it('commits in-flight deliveries before re-joining: a second instance joining mid-stream causes no duplicates', async () => {
    stage = await startStage({ outboxPartitions: 6 });
    const seen = new Map<string, number>();
    let total = 0;
    receiver = await startReceiver((req, res) => {
      const id = String(req.headers['webhook-id']);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      total++;
      setTimeout(() => res.writeHead(204).end(), RESPONSE_MS);
    });
    const subs = new Map<string, SubscriptionSnapshot>();
    for (let t = 0; t < TENANTS; t++) {
      const id = uniqueName(`sub-${t}`);
      subs.set(
        `tenant-${t}`,
        aSnapshot({
          id,
          tenantId: `tenant-${t}`,
          endpointUrl: `${receiver.url}/hook`,
          signing: { current: stage.box.seal(whsec(), id) },
        }),
      );
    }
    await stage.producer.send({
      topic: stage.topics.subscriptions,
      acks: -1,
      messages: [...subs.values()].map((s) => ({ key: s.id, value: encodeSnapshot(s) })),
    });

    const groupId = uniqueName('outbox-rebalance');
    const env = {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      TOPIC_PREFIX: stage.prefix,
      GROUP_ID: groupId,
      PORT: '0',
      HOST: '127.0.0.1',
      HUB_ENCRYPTION_KEYS: stage.keySpec,
      DATABASE_URL: db!.url,
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
      LOG_LEVEL: 'info',
      SESSION_TIMEOUT_MS: '6000',
    };
    const first = spawnProcessor(env);
    children.push(first);

    // A steady stream (a record every 10 ms), so the instances fetch batches all the time.
    const expected = new Set<string>();
    let sent = 0;
    const stream = (async () => {
      for (let i = 0; i < EVENTS; i++) {
        const tenant = `tenant-${i % TENANTS}`;
        const event = anEvent({ extensions: { tenantid: tenant } });
        expected.add(event.id);
        await stage.producer.send({
          topic: stage.topics.outbox('user-lifecycle'),
          acks: -1,
          messages: [outboxRecord(event, subs.get(tenant)!.id)],
        });
        sent++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const output = () => children.map((c, i) => `--- instance ${i + 1}\n${c.output.join('\n')}`).join('\n');
    await waitFor(() => seen.size >= 150, { timeoutMs: 60_000, what: `150 deliveries by the first instance` });
    const second = spawnProcessor(env);
    children.push(second);
    await waitFor(() => second.output.some((l) => l.includes('outbox-processor consuming')) || sent === EVENTS, {
      timeoutMs: 60_000,
      what: `the second instance consuming\n${output()}`,
    });
    await stream;
    await waitFor(() => [...expected].every((id) => seen.has(id)), {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: `all ${EVENTS} deliveries (${seen.size})\n${output()}`,
    });
    // A redelivery of what was in flight happens before its offset is committed: once the group's committed
    // offsets reach the end of the topic, every delivery (and any redelivery) has reached the receiver.
    await waitForCommittedToEnd(groupId, [stage.topics.outbox('user-lifecycle')], {
      timeoutMs: 60_000,
      what: `committed offsets at the end of the outbox topic\n${output()}`,
    });

    const drained = first.output.filter((l) => l.includes('group rebalancing: in-flight records committed'));
    const duplicates = total - seen.size;
    console.log(
      `[outbox rebalance] ${EVENTS} deliveries, ${RESPONSE_MS} ms each; duplicates ${duplicates}; ` +
        `first instance's drains: ${drained.join(' | ')}`,
    );
    expect(drained.length).toBeGreaterThan(0);
    expect([...seen.keys()].every((id) => expected.has(id))).toBe(true);
    expect(duplicates).toBe(0);

    for (const c of children) c.proc.kill('SIGTERM');
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
  });
});
