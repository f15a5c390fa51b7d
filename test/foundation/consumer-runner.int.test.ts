/**
 * The shared consumer runner (pipeline/shared/kafka/consumer-runner.ts) against the real broker: a batch waiting for
 * a slot gives the wait up at stop (no hang, no leaked waiter), a second member joining makes the first drain
 * (onRevoke) before it re-joins, and commitBatch commits past the batch's last record.
 */
import { getEventListeners, getMaxListeners } from 'node:events';
import type { Consumer } from 'kafkajs';
import pino from 'pino';
import { Semaphore } from '../../pipeline/shared/concurrency';
import { type ConsumerRunner, runConsumer } from '../../pipeline/shared/kafka/consumer-runner';
import { createTopic, testKafka, uniqueName, waitFor } from '../support/kafka';

jest.setTimeout(90_000);

const log = pino({ level: 'silent' });
const kafka = testKafka('consumer-runner-test');

async function produce(topic: string, n: number, partition?: number) {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: Array.from({ length: n }, (_, i) => ({ value: `m${i}`, partition })),
  });
  await producer.disconnect();
}

const consumerOf = (groupId: string): Consumer =>
  kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });

describe('consumer runner', () => {
  const runners: ConsumerRunner[] = [];
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop(2_000).catch(() => {})));
  });

  it('stop gives up a batch waiting for a slot: stop returns, the wait says false, no waiter is left', async () => {
    const topic = uniqueName('runner-stop');
    await createTopic(topic, 1);
    await produce(topic, 3);
    const slots = new Semaphore(1);
    slots.tryAcquire(); // the only slot is taken: the batch must wait
    let waiting = false;
    let got: boolean | undefined;
    const runner = await runConsumer({
      consumer: consumerOf(uniqueName('runner-stop')),
      name: 'test',
      log,
      topics: [topic],
      heartbeatMs: 500,
      async handle(_batch, ctx) {
        waiting = true;
        got = await ctx.acquire(slots);
      },
    });
    await waitFor(() => waiting && slots.waiting === 1, { what: 'the batch waiting for the slot' });
    await runner.stop(10_000);
    expect(got).toBe(false);
    expect(slots.waiting).toBe(0);
    expect(slots.inUse).toBe(1); // still only the test's own
  });

  it('many batches waiting for slots at once raise no listener-leak warning (their waits share one signal)', async () => {
    const topic = uniqueName('runner-many');
    await createTopic(topic, 12);
    for (let p = 0; p < 12; p++) await produce(topic, 2, p);
    const slots = new Semaphore(1);
    slots.tryAcquire();
    let revoked: AbortSignal | undefined;
    const runner = await runConsumer({
      consumer: consumerOf(uniqueName('runner-many')),
      name: 'test',
      log,
      topics: [topic],
      concurrency: 12,
      heartbeatMs: 500,
      async handle(_batch, ctx) {
        revoked = ctx.revoked;
        await ctx.acquire(slots);
      },
    });
    runners.push(runner);
    await waitFor(() => slots.waiting === 12, { what: 'twelve batches waiting for the slot' });
    // Each wait listens on the generation's signal: twelve at once. Node warns (MaxListenersExceededWarning, on
    // stderr) past ten listeners on one AbortSignal unless its limit is lifted, as the runner does for this one.
    // (Jest's sandboxed `process` never sees the warning itself, so the limit is what is checked.)
    expect(getEventListeners(revoked!, 'abort')).toHaveLength(12);
    expect(getMaxListeners(revoked!)).toBe(Number.POSITIVE_INFINITY);
    await runner.stop(10_000);
    expect(slots.waiting).toBe(0);
  });

  it('a member joining makes the first drain (onRevoke) before it re-joins, and a waiting batch stops waiting', async () => {
    const topic = uniqueName('runner-revoke');
    await createTopic(topic, 2);
    await produce(topic, 2, 0);
    await produce(topic, 2, 1);
    const groupId = uniqueName('runner-revoke');
    const events: string[] = [];
    const slots = new Semaphore(1);
    slots.tryAcquire();
    let waitResult: boolean | undefined;
    const first = consumerOf(groupId);
    let joins = 0;
    first.on(first.events.GROUP_JOIN, () => {
      joins++;
      events.push(`join ${joins}`);
    });
    runners.push(
      await runConsumer({
        consumer: first,
        name: 'first',
        log,
        topics: [topic],
        concurrency: 2,
        heartbeatMs: 500,
        async onRevoke() {
          events.push('revoke start');
          // Work in flight gets its time: the re-join must wait for it.
          await new Promise((r) => setTimeout(r, 300));
          events.push('revoke end');
        },
        async handle(_batch, ctx) {
          if (waitResult !== undefined) return;
          events.push('waiting');
          waitResult = await ctx.acquire(slots);
          events.push(`wait gave ${waitResult}`);
        },
      }),
    );
    await waitFor(() => events.includes('waiting'), { what: 'the first member waiting for a slot' });
    runners.push(
      await runConsumer({
        consumer: consumerOf(groupId),
        name: 'second',
        log,
        topics: [topic],
        heartbeatMs: 500,
        async handle() {},
      }),
    );
    await waitFor(() => joins >= 2, { timeoutMs: 60_000, what: 'the first member re-joining' });
    expect(waitResult).toBe(false);
    const at = (e: string) => events.indexOf(e);
    expect(at('revoke start')).toBeGreaterThan(at('waiting'));
    expect(at('revoke end')).toBeGreaterThan(at('revoke start'));
    expect(at('join 2')).toBeGreaterThan(at('revoke end'));
    expect(slots.waiting).toBe(0);
  });

  it('with no batch running (work handed off), kafkajs finds the rebalance itself and still re-joins after the drain', async () => {
    const topic = uniqueName('runner-hold');
    await createTopic(topic, 2);
    const groupId = uniqueName('runner-hold');
    const events: string[] = [];
    const first = consumerOf(groupId);
    let joins = 0;
    first.on(first.events.GROUP_JOIN, () => events.push(`join ${++joins}`));
    first.on(first.events.REBALANCING, () => events.push('kafkajs found the rebalance'));
    runners.push(
      await runConsumer({
        consumer: first,
        name: 'first',
        log,
        topics: [topic],
        heartbeatMs: 500,
        async onRevoke() {
          events.push('revoke start');
          // Deliveries still in flight after their batch returned (the outbox): the re-join must wait for them.
          await new Promise((r) => setTimeout(r, 1_500));
          events.push('revoke end');
        },
        async handle() {}, // nothing is ever running when the rebalance comes: the topic is empty
      }),
    );
    await waitFor(() => joins >= 1, { what: 'the first member in the group' });
    runners.push(
      await runConsumer({ consumer: consumerOf(groupId), name: 'second', log, topics: [topic], async handle() {} }),
    );
    await waitFor(() => joins >= 2, { timeoutMs: 60_000, what: 'the first member re-joining' });
    const at = (e: string) => events.indexOf(e);
    expect(at('kafkajs found the rebalance')).toBeGreaterThan(at('join 1'));
    expect(at('revoke start')).toBeGreaterThan(at('join 1'));
    expect(events.slice(at('revoke start'))).toEqual(['revoke start', 'revoke end', 'join 2']);
  });

  it('commitBatch commits past the last record of the batch', async () => {
    const topic = uniqueName('runner-commit');
    await createTopic(topic, 1);
    await produce(topic, 5);
    const groupId = uniqueName('runner-commit');
    let seen = 0;
    runners.push(
      await runConsumer({
        consumer: consumerOf(groupId),
        name: 'test',
        log,
        topics: [topic],
        async handle(batch, ctx) {
          seen += batch.messages.length;
          await ctx.commitBatch();
        },
      }),
    );
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
          return t!.partitions[0]!.offset === '5';
        },
        { what: 'offset 5 committed' },
      );
    } finally {
      await admin.disconnect();
    }
    expect(seen).toBe(5);
  });

  /**
   * `counts[p]` records on partition p of a new topic, consumed by a runner whose batches (one per partition, all of
   * the first fetch) are held until all are in hand and then commit together; resolves once every partition's offset
   * is committed, with the consumer's commitOffsets calls (`prepare` may script them first).
   */
  async function commitTogether(name: string, counts: number[], prepare?: (commits: jest.SpyInstance) => void) {
    const topic = uniqueName(name);
    await createTopic(topic, counts.length);
    for (const [partition, n] of counts.entries()) await produce(topic, n, partition);
    const groupId = uniqueName(name);
    const consumer = consumerOf(groupId);
    const commits = jest.spyOn(consumer, 'commitOffsets');
    prepare?.(commits);
    let arrived = 0;
    let allIn!: () => void;
    const together = new Promise<void>((r) => {
      allIn = r;
    });
    runners.push(
      await runConsumer({
        consumer,
        name: 'test',
        log,
        topics: [topic],
        concurrency: counts.length,
        async handle(_batch, ctx) {
          if (++arrived === counts.length) allIn();
          await together;
          await ctx.commitBatch();
        },
      }),
    );
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
          return t!.partitions.every((p) => p.offset === String(counts[p.partition]));
        },
        { what: `offsets ${counts.join(', ')} committed` },
      );
    } finally {
      await admin.disconnect();
    }
    return { topic, calls: commits.mock.calls.map((c) => c[0]) };
  }

  it('the commits of batches that finish together go to the broker as one request', async () => {
    const { topic, calls } = await commitTogether('runner-commit-merge', [2, 3, 4]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual(
      expect.arrayContaining([0, 1, 2].map((partition) => ({ topic, partition, offset: String(2 + partition) }))),
    );
  });

  it('a merged commit that fails is tried again partition by partition, each batch on its own', async () => {
    const { calls } = await commitTogether('runner-commit-split', [3, 3], (commits) =>
      commits.mockRejectedValueOnce(new Error('one partition of the request failed')),
    );
    // The merged request (failed), then one request per partition.
    expect(calls.map((offsets) => offsets.length)).toEqual([2, 1, 1]);
  });
});
