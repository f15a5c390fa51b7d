/**
 * Kafka adapter of the dlt-processor: DLT topics -> Postgres, committing an offset only after the database
 * transaction that holds its record has committed.
 *
 *   eachBatch ─ parse every record (malformed -> FAILED row with its reason) ─ persistBatch (ONE transaction,
 *   idempotent upsert) ─▶ resolve + commit lastOffset+1
 *        │ persist throws
 *        ├ Postgres answers a ping ─▶ the batch itself is refused: store record by record, and a record Postgres
 *        │                              still refuses as a FAILED placeholder with the reason (never dropped)
 *        └ Postgres does not answer ─▶ pause every DLT topic (kafkajs `pause`), nothing resolved or committed;
 *                                      probe with backoff; `resume` when it answers: the batch is fetched again
 */
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from './failure-store';
import { type NewFailure, parseDltRecord } from './parse-dlt-record';

export interface DltConsumerOptions {
  kafka: Kafka;
  topics: string[];
  groupId: string;
  store: FailureStore;
  log: Logger;
  onPersisted?: (n: number) => void;
  /** Upper bound of the probe backoff while Postgres is away (default 5 s). */
  maxBackoffMs?: number;
  /** How long a ping may take before the database counts as away (default 5 s). */
  pingTimeoutMs?: number;
}

export interface DltConsumer {
  stop(): Promise<void>;
  /** True while the consumer is paused because Postgres does not answer. */
  paused(): boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A record Postgres refused as read (it is up): kept as a FAILED row whose headers are base64 JSON. */
export function unstorable(r: NewFailure, err: unknown): NewFailure {
  const synthetic = `${r.sourceTopic}:${r.sourcePartition}:${r.sourceOffset}`;
  const safe = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  return {
    ...r,
    eventId: synthetic,
    subscriptionId: `unknown:${synthetic}`,
    tenantId: safe(r.tenantId),
    eventType: r.eventType === null ? null : safe(r.eventType),
    lastErrorCode: r.lastErrorCode === null ? null : safe(r.lastErrorCode),
    ceHeaders: { 'hub-unstorable-headers-base64': Buffer.from(JSON.stringify(r.ceHeaders)).toString('base64') },
    failureHeaders: {},
    status: 'FAILED',
    reason: `record could not be stored as read (${safe(errorMessage(err))}); its headers are kept base64-encoded`,
  };
}

export async function startDltConsumer(opts: DltConsumerOptions): Promise<DltConsumer> {
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  const log = opts.log.child({ component: 'dlt-consumer' });
  let dbDown = false;
  let stopped = false;
  let recovery: Promise<void> | undefined;

  const alive = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opts.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('ping timed out')), opts.pingTimeoutMs ?? 5000);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  const all = () => opts.topics.map((topic) => ({ topic }));

  const pauseUntilBack = (err: unknown) => {
    if (dbDown) return;
    dbDown = true;
    consumer.pause(all());
    log.error(
      { err: errorMessage(err) },
      'Postgres does not answer: DLT topics paused, nothing committed; resuming when it is back',
    );
    recovery = (async () => {
      let backoff = 200;
      while (!stopped) {
        await sleep(backoff);
        if (stopped) return;
        if (await alive()) {
          dbDown = false;
          consumer.resume(all());
          log.info('Postgres is back: DLT topics resumed');
          return;
        }
        backoff = Math.min(opts.maxBackoffMs ?? 5000, backoff * 2);
      }
    })();
  };

  /** True when every row is in the database; false when Postgres is away (nothing may be committed then). */
  const persist = async (rows: NewFailure[]): Promise<boolean> => {
    try {
      await opts.store.persistBatch(rows);
      return true;
    } catch (err) {
      if (!(await alive())) {
        pauseUntilBack(err);
        return false;
      }
      log.warn({ err: errorMessage(err), records: rows.length }, 'batch refused; storing its records one by one');
    }
    for (const row of rows) {
      try {
        await opts.store.persistBatch([row]);
      } catch (err) {
        if (!(await alive())) {
          pauseUntilBack(err);
          return false;
        }
        try {
          await opts.store.persistBatch([unstorable(row, err)]);
          log.warn(
            { topic: row.sourceTopic, partition: row.sourcePartition, offset: row.sourceOffset },
            'record refused by Postgres: stored as a FAILED placeholder',
          );
        } catch (again) {
          pauseUntilBack(again);
          return false;
        }
      }
    }
    return true;
  };

  await consumer.connect();
  for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      // Unresolved records are fetched again from the last resolved offset once the topics resume.
      if (batch.messages.length === 0 || dbDown || !isRunning() || isStale()) return;
      const now = new Date();
      const rows = batch.messages.map((m) => parseDltRecord(batch.topic, batch.partition, m, now));
      const malformed = rows.filter((r) => r.reason?.startsWith('malformed')).length;
      if (!(await persist(rows))) return;
      for (const m of batch.messages) resolveOffset(m.offset);
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
      } catch (err) {
        // The rows are stored; an uncommitted offset only means these records are read (and upserted) again.
        log.warn({ err: errorMessage(err), topic: batch.topic, partition: batch.partition }, 'offset commit failed');
      }
      if (malformed > 0)
        log.warn(
          { topic: batch.topic, partition: batch.partition, malformed },
          'malformed DLT records stored as FAILED',
        );
      opts.onPersisted?.(rows.length);
      await heartbeat().catch(() => {});
    },
  });
  return {
    paused: () => dbDown,
    async stop() {
      stopped = true;
      await consumer.disconnect();
      await recovery;
    },
  };
}
