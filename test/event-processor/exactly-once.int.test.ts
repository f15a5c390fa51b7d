/**
 * Exactly-once fan-out across a crash: the processor runs as a real child process (its own main.ts, env config),
 * is SIGKILLed in the middle of a run, restarted with the same instance id, and a read_committed reader then finds
 * every expected outbox record exactly once.
 *
 * EXACTLY_ONCE_EVENTS sets the run size (default 20000 — the figure; the reliability profile may raise it).
 */
import { aRawEvent, rawRecord } from '../fixtures/platform-events';
import { aSnapshot } from '../fixtures/subscriptions';
import { consumeAll, testKafka, waitFor } from '../support/kafka';
import {
  aScenario,
  type ProcessorChild,
  type ProcessorScenario,
  publishSubscriptions,
  spawnProcessor,
  whileAlive,
} from './harness';

jest.setTimeout(300_000);

const EVENTS = Number(process.env.EXACTLY_ONCE_EVENTS ?? 20_000);
const TENANTS = 10;
// Small transactions, several partitions at once: many commits in flight when the kill lands.
const SMALL_TRANSACTIONS = { MAX_BATCH_RECORDS: '100', CONCURRENCY: '3' };

/** Ingest offsets the processor's group has committed (= records whose fan-out is committed), summed. */
async function committedInput(s: ProcessorScenario): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({ groupId: s.groupId, topics: [s.ingestTopic] });
    return (topic?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

let child: ProcessorChild | undefined;
afterEach(async () => {
  if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
});

describe('event-processor exactly-once fan-out', () => {
  it(`produces every outbox record exactly once when SIGKILLed during a run of ${EVENTS} events`, async () => {
    const s = aScenario('eos');
    // Two subscriptions match every event: 2 x EVENTS outbox records expected.
    await publishSubscriptions(s, [
      ...Array.from({ length: TENANTS }, (_, t) => aSnapshot({ id: `exact-${t}`, tenantId: `t-${t}` })),
      ...Array.from({ length: TENANTS }, (_, t) =>
        aSnapshot({
          id: `any-${t}`,
          tenantId: `t-${t}`,
          match: { sourceService: '*', eventType: '*', resourceType: '*', operationType: '*' },
        }),
      ),
    ]);
    const producer = testKafka().producer();
    await producer.connect();
    for (let start = 0; start < EVENTS; start += 1000) {
      await producer.send({
        topic: s.ingestTopic,
        acks: -1,
        messages: Array.from({ length: Math.min(1000, EVENTS - start) }, (_, j) => {
          const i = start + j;
          const r = rawRecord(aRawEvent({ eventId: `eos-${i}`, tenantId: `t-${i % TENANTS}` }));
          return { key: r.key, value: r.value, headers: r.headers };
        }),
      });
    }
    await producer.disconnect();

    // First run: kill it hard once a good part, but not all, of the input is committed.
    child = spawnProcessor(s, SMALL_TRANSACTIONS);
    const killAt = Math.floor(EVENTS * 0.3);
    const before = await whileAlive(
      child,
      waitFor(
        async () => {
          const n = await committedInput(s);
          return n >= killAt ? n : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 20, what: `${killAt} committed input records` },
      ),
    );
    child.proc.kill('SIGKILL');
    await child.exited;
    // The crash must have happened mid-run, or the test proves nothing.
    expect(before).toBeLessThan(EVENTS);

    // Restart with the same instance id: its transactional ids fence the dead incarnation and abort its open
    // transactions; consumption resumes from the committed offsets.
    child = spawnProcessor(s, SMALL_TRANSACTIONS);
    await whileAlive(
      child,
      waitFor(async () => (await committedInput(s)) === EVENTS, {
        timeoutMs: 120_000,
        intervalMs: 200,
        what: `all ${EVENTS} input records committed after the restart`,
      }),
    );

    const out = await consumeAll(s.topics.allOutbox(), { count: 2 * EVENTS, timeoutMs: 120_000, settleMs: 2000 });
    const seen = new Map<string, number>();
    for (const r of out) {
      const k = `${r.headers.ce_id}|${r.headers['hub-subscription-id']}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const duplicates = [...seen].filter(([, n]) => n > 1);
    expect(duplicates.slice(0, 5)).toEqual([]);
    expect(seen.size).toBe(2 * EVENTS);
    expect(out).toHaveLength(2 * EVENTS);
    const missing: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      for (const sub of [`exact-${i % TENANTS}`, `any-${i % TENANTS}`])
        if (seen.get(`eos-${i}|${sub}`) !== 1) missing.push(`eos-${i}|${sub}`);
    }
    expect(missing.slice(0, 5)).toEqual([]);

    // Evidence that the kill hit open transactions: read_uncommitted also sees the aborted attempts.
    const all = await consumeAll(s.topics.allOutbox(), {
      count: 2 * EVENTS,
      timeoutMs: 120_000,
      settleMs: 2000,
      readUncommitted: true,
    });
    process.stderr.write(
      `[exactly-once] killed at ${before}/${EVENTS} committed inputs; outbox read_committed=${out.length}, ` +
        `read_uncommitted=${all.length} (aborted duplicates hidden: ${all.length - out.length})\n`,
    );
  });
});
