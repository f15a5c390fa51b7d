/**
 * Kafka adapter of the dlt-processor: DLT topics -> Postgres, committing an offset only after the database
 * transaction that holds its record has committed.
 *
 *   eachBatch ─ parkRecord every record (handler.ts: malformed -> FAILED row with its reason) ─ persistBatch (ONE
 *   transaction, idempotent upsert) ─▶ resolve + commit lastOffset+1
 *        │ persist throws (persist-batch.ts, shared with the ledger writer)
 *        ├ RecordRefusedError (Postgres refuses the data) ─▶ store record by record; a record still refused
 *        │     becomes a FAILED placeholder with the reason (`unstorable`, handler.ts): never dropped, never a
 *        │     stuck partition
 *        └ anything else (Postgres away, pool timeout) ─▶ pause every DLT topic (kafkajs `pause`), nothing
 *              resolved or committed; probe with backoff; `resume` when it answers: the batch is fetched again.
 *              The same batch failing MAX_STRIKES rounds while Postgres answers is taken apart record by record.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../shared/errors';
import { FETCH_MAX_WAIT_MS } from '../shared/kafka/client';
import { runConsumer } from '../shared/kafka/consumer-runner';
import { pauseWhileDbAway } from '../shared/kafka/pause-while-db-away';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from '../shared/parked/failure-store';
import type { NewFailure } from '../shared/parked/parse-dlt-record';
import { isMalformed, parkRecord, unstorable } from './handler';
import { createBatchWriter } from './persist-batch';

export interface DltConsumerOptions {
  kafka: Kafka;
  topics: string[];
  groupId: string;
  store: FailureStore;
  log: Logger;
  onPersisted?: (n: number) => void;
  /** Delay of a parked delivery's first scheduled attempt (its subscription's schedule); unset = at once. */
  firstDelay?: (row: NewFailure) => number | undefined;
  /** Upper bound of the probe backoff while Postgres is away (default 5 s). */
  maxBackoffMs?: number;
  /** How long a ping may take before the database counts as away (default 5 s). */
  pingTimeoutMs?: number;
  /** The consumer stopped for good (kafkajs will not restart it): the owner exits so the instance is restarted. */
  onFatal?: (err: Error) => void;
  /** Consumer group session timeout (default 10 s). */
  sessionTimeoutMs?: number;
}

export interface DltConsumer {
  stop(): Promise<void>;
  /** True while the consumer is paused because Postgres does not answer. */
  paused(): boolean;
}

export async function startDltConsumer(opts: DltConsumerOptions): Promise<DltConsumer> {
  const heartbeatMs = Math.min(3_000, Math.floor((opts.sessionTimeoutMs ?? 10_000) / 3));
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: heartbeatMs,
  });
  const log = opts.log.child({ component: 'dlt-consumer' });

  const db = pauseWhileDbAway({
    consumer,
    topics: opts.topics,
    ping: () => opts.store.ping(),
    log,
    what: 'DLT records',
    maxBackoffMs: opts.maxBackoffMs,
    pingTimeoutMs: opts.pingTimeoutMs,
  });
  const writer = createBatchWriter<NewFailure>({
    write: (rows) => opts.store.persistBatch(rows),
    alive: db.alive,
    pauseUntilBack: db.pauseUntilBack,
    log,
    takenApart: 'batch refused; storing its records one by one',
  });
  /** A record Postgres still refuses on its own: a FAILED placeholder with the reason (never dropped). */
  const placeholder = async (row: NewFailure, err: unknown) => {
    await opts.store.persistBatch([unstorable(row, err)]);
    log.warn(
      { topic: row.sourceTopic, partition: row.sourcePartition, offset: row.sourceOffset, err: errorMessage(err) },
      'record refused by Postgres: stored as a FAILED placeholder',
    );
  };

  const runner = await runConsumer({
    consumer,
    name: 'dlt',
    log,
    topics: opts.topics,
    concurrency: 4,
    heartbeatMs,
    onFatal: opts.onFatal,
    async handle(batch, ctx) {
      // Unresolved records are fetched again from the last resolved offset once the topics resume.
      if (batch.messages.length === 0 || db.paused()) return;
      const now = new Date();
      const rows = batch.messages.map((m) => parkRecord(batch.topic, batch.partition, m, now, opts.firstDelay));
      const malformed = rows.filter(isMalformed).length;
      if (!(await writer.persist(rows, `${batch.topic}:${batch.partition}`, batch.firstOffset() ?? '', placeholder)))
        return;
      await ctx.commitBatch();
      if (malformed > 0)
        log.warn(
          { topic: batch.topic, partition: batch.partition, malformed },
          'malformed DLT records stored as FAILED',
        );
      opts.onPersisted?.(rows.length);
      await ctx.heartbeat();
    },
  });
  return {
    paused: () => db.paused(),
    async stop() {
      const probing = db.stop(); // no more probes or resumes from here on
      await runner.stop();
      await probing;
    },
  };
}
