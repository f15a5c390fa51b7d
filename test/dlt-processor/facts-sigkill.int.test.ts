/**
 * Delivery-side facts across SIGKILLs (issue 18: "every fact type appears exactly once per cause, including after a
 * SIGKILL mid-stream; no fact lost, duplicates carry the same id"). The real dlt-processor (its main.ts, as a child
 * process) writes a steady stream of ledger bundles while it is SIGKILLed twice and restarted:
 *
 *   test producer ─ ledger bundles, ~30 events/s, each event DELIVERED + FAILED + RETRYING ─▶ <prefix>.ledger.v1
 *     ─▶ dlt-processor child: ledger writer ─▶ Postgres, then WebhookDelivered / IntegrationFailed to the facts topics
 *   SIGKILL once facts flow, restart at once; SIGKILL again once the restarted process produced more, restart;
 *   the stream keeps going through both kills and stops a little after the second
 *   ─▶ when the ledger group has committed to the end of the ledger topic (the commit follows the acked facts):
 *      every DELIVERED and FAILED record has its fact, nothing else has one, one id per cause, every copy of a fact
 *      byte-identical; each valid against its JSON Schema, keyed by tenant, with the cs-* headers
 *
 * A kill may or may not land between a batch's acked facts and its commit, so duplicates above are possible, not
 * certain. The last step makes the worst case certain: SIGKILL, the group's offsets rewound to the start (as if no
 * commit had ever made it), restart: every fact is produced again, and every copy carries its first copy's id and
 * bytes, so a consumer deduping on the id sees each cause once. (delivery-facts.int.test.ts injects the failure
 * between produce and commit in-process; this test does it to a real process.)
 */
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { generateHubKeySpec } from '../../pipeline/shared/crypto/secret-box';
import { FACT_TYPES, type FactCloudEvent } from '../../pipeline/shared/facts/fact';
import { ensureTopics } from '../../pipeline/shared/kafka/admin';
import { encodeLedgerBundle, encodeLedgerRecord, type LedgerRecord } from '../../pipeline/shared/ledger/ledger-record';
import { topicNames } from '../../pipeline/shared/topics';
import { freePort } from '../../scripts/hub/ports';
import { anEventWithDeliveries, LEDGER_TRACE } from '../fixtures/ledger-records';
import { type Child, killChild, spawnProcessor } from '../outbox-processor/child';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { validateFact } from '../support/fact-schemas';
import {
  brokers,
  type ConsumedRecord,
  consumeAll,
  recordsIn,
  testKafka,
  uniqueName,
  waitFor,
  waitForCommittedToEnd,
} from '../support/kafka';

jest.setTimeout(360_000);

const PER_SECOND = 30;
/** Events sent after the second kill before the stream stops (it is still flowing while the process is down). */
const AFTER_LAST_KILL = 60;

/** Waits for `p`, failing at once with the child's last output if it exits first. */
async function whileAlive<T>(c: Child, p: Promise<T>): Promise<T> {
  const died = c.exited.then((code) => {
    throw new Error(`the dlt-processor exited (code ${code}) early`);
  });
  died.catch(() => {});
  try {
    return await Promise.race([p, died]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${c.output.slice(-30).join('\n')}`);
  }
}

/** The cause of a fact: which delivery record, in which state, it stands for. */
const causeOf = (type: string, eventId: string, subscriptionId: string) => `${type}|${eventId}|${subscriptionId}`;

describe('delivery facts across SIGKILLs of the dlt-processor', () => {
  let db: TestDatabase;
  let child: Child | undefined;
  let kafka: Kafka;
  let producer: Producer;
  let watcher: Consumer;

  beforeAll(async () => {
    db = await createTestDatabase();
    kafka = testKafka('facts-sigkill');
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
    watcher = kafka.consumer({ groupId: uniqueName('facts-watch'), maxWaitTimeInMs: 100 });
  });
  afterAll(async () => {
    await killChild(child);
    await watcher?.disconnect().catch(() => {});
    await producer?.disconnect().catch(() => {});
    await db?.drop();
  });

  it('every DELIVERED and FAILED delivery has its fact after SIGKILLs mid-stream; a copy carries the same id', async () => {
    const prefix = uniqueName('hub');
    const topics = topicNames(prefix);
    const factTopics = Object.values(topics.facts);
    await ensureTopics(
      kafka,
      [topics.ledger, ...factTopics].map((topic) => ({ topic, partitions: 2 })),
    );
    const port = await freePort();
    const groupId = uniqueName('dlt');
    const env = {
      KAFKA_BROKERS: brokers().join(','),
      TOPIC_PREFIX: prefix,
      GROUP_ID: groupId,
      DATABASE_URL: db.url,
      HUB_ENCRYPTION_KEYS: generateHubKeySpec('facts'),
      PORT: String(port),
      HOST: '127.0.0.1',
      ENDPOINT_ALLOW_HOSTS: '127.0.0.1',
      TOPIC_PARTITIONS: '2',
      // The smallest allowed: a restarted writer gets the dead one's partitions 6 s after the kill.
      SESSION_TIMEOUT_MS: '6000',
      FACTS_DELIVERED: 'all',
      LOG_LEVEL: 'info',
    };
    const start = async (): Promise<Child> => {
      const c = spawnProcessor(env, 'dlt-processor');
      child = c;
      await whileAlive(
        c,
        waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, {
          timeoutMs: 90_000,
          what: 'the dlt-processor ready',
        }),
      );
      return c;
    };
    const sigkill = async (c: Child) => {
      expect(c.proc.exitCode).toBeNull(); // alive until now: the kill is what stops it
      c.proc.kill('SIGKILL');
      await c.exited;
    };

    // The facts as they arrive (distinct ids): the positive sentinels for when to kill.
    const seen = new Set<string>();
    await watcher.connect();
    await watcher.subscribe({ topics: factTopics, fromBeginning: true });
    await watcher.run({
      eachMessage: async ({ message }) => {
        seen.add((JSON.parse(message.value!.toString('utf8')) as FactCloudEvent).id);
      },
    });

    let c = await start();

    // The stream: bundles at a steady pace until told to stop; what it sent is the expected set of causes.
    const bundles: LedgerRecord[][] = [];
    let stopAfter = Number.POSITIVE_INFINITY;
    const stream = (async () => {
      const t0 = Date.now();
      for (let i = 0; i < stopAfter && i < 5_000; i += 3) {
        const wait = t0 + (i / PER_SECOND) * 1000 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the load, not waiting for an outcome
        const next = [0, 1, 2].map((j) =>
          anEventWithDeliveries(`tenant-${(i + j) % 4}`, ['DELIVERED', 'FAILED', 'RETRYING']),
        );
        await producer.send({
          topic: topics.ledger,
          acks: -1,
          messages: next.map((b) => ({ value: encodeLedgerBundle(b.map(encodeLedgerRecord)) })),
        });
        bundles.push(...next);
      }
    })();
    const kills: { sent: number; factsSeen: number }[] = [];

    // Kill 1: once the first process has produced facts for a while.
    await whileAlive(
      c,
      waitFor(() => seen.size >= 120, { timeoutMs: 60_000, what: '120 facts' }),
    );
    await sigkill(c);
    kills.push({ sent: bundles.length, factsSeen: seen.size });
    c = await start();
    // Kill 2: once the restarted process has produced facts of its own, while the stream still flows.
    await whileAlive(
      c,
      waitFor(() => seen.size >= kills[0]!.factsSeen + 120, { timeoutMs: 90_000, what: 'facts after the restart' }),
    );
    await sigkill(c);
    kills.push({ sent: bundles.length, factsSeen: seen.size });
    stopAfter = bundles.length + AFTER_LAST_KILL;
    c = await start();
    await stream;
    expect(kills.every((k) => k.sent < bundles.length)).toBe(true); // both kills were mid-stream

    // The expected causes: one fact per DELIVERED and per FAILED delivery record; none for RETRYING.
    const expected = new Map<string, LedgerRecord>();
    for (const b of bundles)
      for (const r of b)
        if (r.kind === 'delivery' && r.status !== 'RETRYING')
          expected.set(
            causeOf(r.status === 'DELIVERED' ? FACT_TYPES.delivered : FACT_TYPES.failed, r.eventId, r.subscriptionId),
            r,
          );

    /** Every fact record, once the ledger group committed the whole ledger topic (commits follow acked facts). */
    const readFacts = async (): Promise<ConsumedRecord[]> => {
      await whileAlive(
        c,
        waitForCommittedToEnd(`${groupId}-ledger`, [topics.ledger], {
          timeoutMs: 120_000,
          what: 'the ledger group committed to the end of the ledger topic',
        }),
      );
      return consumeAll(factTopics, { count: await recordsIn(factTopics), timeoutMs: 60_000 });
    };

    /** Checks each record and groups the copies by cause; fails on a fact without a cause. */
    const byCause = (records: ConsumedRecord[]) => {
      const out = new Map<string, ConsumedRecord[]>();
      for (const r of records) {
        const e = JSON.parse(r.value!.toString('utf8')) as FactCloudEvent;
        expect(validateFact(e)).toEqual([]);
        expect(r.key).toBe(e.data.tenantId);
        expect(r.headers).toMatchObject({
          'cs-event-type': e.type,
          'cs-tenant-id': e.data.tenantId,
          'cs-trace-id': LEDGER_TRACE,
          'cs-correlation-id': e.data.payload.webhookEventId,
          'cs-schema-version': '1',
        });
        const cause = causeOf(e.type, String(e.data.payload.webhookEventId), String(e.data.payload.subscriptionId));
        expect({ cause, known: expected.has(cause) }).toEqual({ cause, known: true });
        out.set(cause, [...(out.get(cause) ?? []), r]);
      }
      return out;
    };
    /** One id per cause and one cause per id; every copy byte for byte the same record. */
    const expectCopiesIdentical = (groups: Map<string, ConsumedRecord[]>) => {
      const causeOfId = new Map<string, string>();
      const idOf = (r: ConsumedRecord) => (JSON.parse(r.value!.toString('utf8')) as FactCloudEvent).id;
      for (const [cause, copies] of groups) {
        const first = copies[0]!;
        const id = idOf(first);
        expect(causeOfId.get(id) ?? cause).toBe(cause);
        causeOfId.set(id, cause);
        for (const copy of copies.slice(1)) {
          expect({ cause, id: idOf(copy) }).toEqual({ cause, id });
          expect(copy.value!.equals(first.value!)).toBe(true);
          expect(copy.headers).toEqual(first.headers);
          expect(copy.key).toBe(first.key);
        }
      }
      return causeOfId;
    };

    const records = await readFacts();
    const groups = byCause(records);
    const missing = [...expected.keys()].filter((k) => !groups.has(k));
    expect(missing).toEqual([]);
    const ids = expectCopiesIdentical(groups);
    expect(ids.size).toBe(expected.size); // exactly once per cause, counted by id
    const duplicates = records.length - groups.size;
    // The ledger itself is whole too: every delivery record once.
    expect(
      await db.prisma.ledgerDelivery.count({ where: { eventId: { in: bundles.map((b) => b[0]!.eventId) } } }),
    ).toBe(bundles.length * 3);

    // The worst case, made certain: a kill before any commit (offsets rewound to the start while the group is empty).
    await sigkill(c);
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Refused while the killed member still holds its session; accepted once the group is empty.
      await waitFor(
        async () => {
          await admin.resetOffsets({ groupId: `${groupId}-ledger`, topic: topics.ledger, earliest: true });
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 500, what: 'the ledger group empty and its offsets rewound' },
      );
    } finally {
      await admin.disconnect();
    }
    c = await start();
    const again = await readFacts();
    const groupsAgain = byCause(again);
    expect([...expected.keys()].filter((k) => !groupsAgain.has(k))).toEqual([]);
    const idsAgain = expectCopiesIdentical(groupsAgain);
    expect(idsAgain).toEqual(ids); // the same id for every cause as before the rewind
    // Every cause's fact produced again: at least two copies each, all identical (checked above).
    expect([...groupsAgain.values()].every((copies) => copies.length >= 2)).toBe(true);

    console.log(
      `[facts SIGKILL] ${bundles.length} events, ${expected.size} facts expected; kills at ${kills
        .map((k) => `${k.sent} sent / ${k.factsSeen} facts seen`)
        .join(', ')}; after the kills ${records.length} fact records (${duplicates} duplicates); ` +
        `after the rewind ${again.length} records, ${idsAgain.size} distinct ids`,
    );
  });
});
