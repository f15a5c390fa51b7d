/**
 * Kafka adapter of the event-processor: ingest topics -> handler -> outbox/quarantine, exactly once.
 *
 *   consumer (group GROUP_ID, read_committed, eachBatch, CONCURRENCY partitions at once)
 *     └─ per fetched batch, in chunks of MAX_BATCH_RECORDS:
 *          decode + handle every record (pure; poison becomes a quarantine record, never an exception)
 *          ── one Kafka transaction on a transactional producer from the pool ──
 *             sendBatch(outbox + quarantine records) ─▶ sendOffsets(chunk end) ─▶ commit
 *          resolveOffset, heartbeat; audit entries go to the audit sink (outside the transaction)
 *     decode rejects (the schema registry does not answer): nothing produced; the partition is paused (kafkajs
 *       `pause`), the failed record is decoded again with backoff as the probe, and every partition paused meanwhile
 *       resumes once it decodes: the unresolved records are fetched again. One WARN, one INFO, no crash or restart.
 *     on any other failure: abort, throw -> kafkajs fetches the chunk again from the last committed position.
 *
 * Why this is exactly-once: the outbox records and the consumer offset are committed atomically, and outbox
 * readers use read_committed. A crash before the commit leaves an open transaction that the restarted instance
 * aborts when it re-initialises the same transactional ids (they are stable per instance and pool slot); its
 * records never become visible and the records are consumed again from the committed offset.
 * Limitation: kafkajs 2.2 sends offsets without the consumer-group generation (no KIP-447 fencing), so a *zombie*
 * instance that lost its partitions in a rebalance but still holds a transaction could commit it; instances with
 * distinct INSTANCE_IDs therefore rely on session timeouts being longer than one transaction (they are: seconds
 * vs. milliseconds).
 */
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { AuditSink } from '../shared/audit/audit';
import { errorMessage } from '../shared/errors';
import { groupByBytes } from '../shared/group-by-bytes';
import { FETCH_MAX_WAIT_MS } from '../shared/kafka/client';
import { runConsumer } from '../shared/kafka/consumer-runner';
import { pauseWhileAway } from '../shared/kafka/pause-while-away';
import type { Logger } from '../shared/logging/logger';
import { type DecodeResult, INGEST_CODES, type IngestRecord } from './decode-input';
import type { EventHandler, HandlerResult, ProducedRecord } from './handler';
import type { EventProcessorMetrics } from './metrics';

export interface IngestOptions {
  kafka: Kafka;
  /** Ingest topics. */
  topics: string[];
  groupId: string;
  /** Prefix of the transactional ids, stable per instance: `<group>-<instance>`; the slot number is appended. */
  transactionalIdPrefix: string;
  /** Partitions processed at once; two transactional producers each (PRODUCERS_PER_SLOT). */
  concurrency: number;
  /** Records per transaction at most. */
  maxBatchRecords: number;
  transactionTimeoutMs?: number;
  /** How long stop() waits for the running batches to finish their chunk (default 30 s). */
  stopGraceMs?: number;
  sessionTimeoutMs?: number;
  decode: (record: IngestRecord) => Promise<DecodeResult>;
  handler: EventHandler;
  audit: AuditSink;
  metrics?: EventProcessorMetrics;
  log: Logger;
  now?: () => number;
  /** The consumer stopped for good (kafkajs will not restart it). */
  onFatal?: (err: Error) => void;
  /** Consume from the beginning when the group has no committed offset. Default true. */
  fromBeginning?: boolean;
  /**
   * What `decode` depends on, for the WARN while it is away: e.g. `schema registry http://registry:8080/apis/ccompat/v7
   * (SCHEMA_REGISTRY_URL)`.
   */
  decodeDependency?: string;
  /** Upper bound of the probe backoff while the schema registry is away (default 5 s). */
  maxBackoffMs?: number;
}

/** `decode` rejected: the record cannot be decoded now (the schema registry does not answer); it must wait. */
class DecodeUnavailable extends Error {
  constructor(
    readonly record: IngestRecord,
    err: unknown,
  ) {
    super(errorMessage(err));
  }
}

export interface IngestRunner {
  /** Stops fetching, lets the running chunk commit, leaves the group, closes the producers. */
  stop(): Promise<void>;
  /** True between the first partition assignment and stop. */
  isRunning(): boolean;
  /** Committed records so far (tests, logs). */
  processed(): number;
}

/** One transactional producer; recreated (which fences its previous incarnation) when its state is unknown. */
class TxProducer {
  private producer: Producer;

  constructor(
    private readonly kafka: Kafka,
    readonly transactionalId: string,
    private readonly transactionTimeout: number,
  ) {
    this.producer = this.create();
  }

  private create(): Producer {
    return this.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.transactionTimeout,
      allowAutoTopicCreation: false,
      // A transaction's first AddPartitionsToTxn, sent right after the previous commit, is often answered
      // CONCURRENT_TRANSACTIONS while the coordinator still writes that commit's markers; the client's 200 ms
      // backoff then delays every event of the chunk. Retry after 20 ms first, as the Java client does
      // (KAFKA-5477); the backoff still grows to the client's maximum, forever, as kafkajs's idempotent default.
      retry: { initialRetryTime: 20, maxRetryTime: 5_000, retries: Number.MAX_SAFE_INTEGER },
      // Java-compatible murmur2: a tenant lands on the same outbox partition as with JVM producers.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async commit(
    records: ProducedRecord[],
    groupId: string,
    offsets: { topic: string; partition: number; offset: string },
  ): Promise<void> {
    const txn = await this.producer.transaction();
    try {
      // Several produce requests inside the one transaction, each far below the broker's message.max.bytes
      // (1 MiB by default): kafkajs puts a request's records for one partition into one record batch, and a fan-out
      // of 10 over a 500-record chunk is megabytes.
      for (const part of groupByBytes(records, requestBytes, MAX_REQUEST_BYTES))
        await txn.sendBatch({ acks: -1, topicMessages: byTopic(part) });
      await txn.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: offsets.topic, partitions: [{ partition: offsets.partition, offset: offsets.offset }] }],
      });
      await txn.commit();
    } catch (err) {
      try {
        await txn.abort();
      } catch {
        // Commit outcome unknown or the producer is fenced: start a new incarnation. InitProducerId aborts
        // whatever the old one left open.
        await this.reset();
      }
      throw err;
    }
  }

  async reset(): Promise<void> {
    await this.producer.disconnect().catch(() => {});
    this.producer = this.create();
    await this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** Bytes of records per produce request (see TxProducer.commit). */
export const MAX_REQUEST_BYTES = 512 * 1024;

/** What a record costs in a produce request: value, key, headers and the record's own overhead. */
export const requestBytes = (r: ProducedRecord): number => {
  let n = (r.value?.length ?? 0) + (r.key?.length ?? 0) + 64;
  for (const [k, v] of Object.entries(r.headers)) n += k.length + (v === undefined ? 0 : String(v).length) + 8;
  return n;
};

function byTopic(records: ProducedRecord[]): { topic: string; messages: Message[] }[] {
  const map = new Map<string, Message[]>();
  for (const r of records) {
    let list = map.get(r.topic);
    if (!list) {
      list = [];
      map.set(r.topic, list);
    }
    list.push({ key: r.key, value: r.value, headers: r.headers });
  }
  return [...map].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * Transactional producers per partition processed at once. A transaction begun on a transactional id right after
 * its previous commit is answered CONCURRENT_TRANSACTIONS until the coordinator has written that commit's markers,
 * and waits for the client's retry (20 ms and more). With two producers per slot, a producer's next transaction need
 * not start on the heels of its own commit. Measured on one broker, 20-record transactions back to back: one
 * producer 21–43 ms mean (1.5–1.7 AddPartitionsToTxn per transaction), two alternating 9–12 ms (1.0); a pause of
 * 2 ms or more between them avoids it on an idle broker.
 */
export const PRODUCERS_PER_SLOT = 2;
/** A producer released this recently is not taken again while another one is free (see ProducerPool). */
export const PRODUCER_REST_MS = 25;

/**
 * A fixed pool: kafkajs runs at most `concurrency` eachBatch calls at once, each holding one producer for one chunk,
 * so a producer is always free. It hands out the producer released last unless that one is still "resting" (released
 * less than `restMs` ago): then the one released longest ago. On a quiet hub, one producer does all the work and keeps
 * its connection and coordinator lookups warm; under load, no transaction starts on the heels of its producer's
 * previous commit (PRODUCERS_PER_SLOT).
 */
export class ProducerPool<P> {
  /** Free producers, least recently released first, with when each was released. */
  private readonly free: { p: P; at: number }[];
  private readonly waiters: ((p: P) => void)[] = [];

  constructor(
    readonly all: P[],
    private readonly restMs = PRODUCER_REST_MS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.free = all.map((p) => ({ p, at: Number.NEGATIVE_INFINITY }));
  }

  async acquire(): Promise<P> {
    const last = this.free.at(-1);
    if (last && this.now() - last.at >= this.restMs) return this.free.pop()!.p;
    const oldest = this.free.shift();
    if (oldest) return oldest.p;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(p: P): void {
    const next = this.waiters.shift();
    if (next) next(p);
    else this.free.push({ p, at: this.now() });
  }
}

export async function startIngest(opts: IngestOptions): Promise<IngestRunner> {
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const producers = Array.from(
    { length: opts.concurrency * PRODUCERS_PER_SLOT },
    (_, slot) =>
      new TxProducer(opts.kafka, `${opts.transactionalIdPrefix}-${slot}`, opts.transactionTimeoutMs ?? 30_000),
  );
  // Connecting initialises the transactional ids: open transactions of a crashed predecessor are aborted here.
  await Promise.all(producers.map((p) => p.connect()));
  const pool = new ProducerPool(producers);

  const heartbeatMs = Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 10));
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: heartbeatMs,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    allowAutoTopicCreation: false,
  });
  let running = false;
  let processed = 0;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    running = true;
    log.info({ memberAssignment: e.payload.memberAssignment }, 'joined the ingest consumer group');
  });
  consumer.on(consumer.events.CRASH, () => opts.metrics?.consumerCrashes.inc());

  // The record whose decoding failed first in the current outage: decoding it again is the probe (it needs exactly
  // what the waiting records need, with the registry client's own auth and timeouts).
  let probe: IngestRecord | undefined;
  const registry = pauseWhileAway({
    consumer,
    ping: async () => {
      if (probe) await opts.decode(probe);
    },
    log,
    back: 'schema registry answers again: ingest resumed, the waiting records are decoded now',
    onBack: () => {
      probe = undefined;
      opts.metrics?.registryPaused.set(0);
    },
    maxBackoffMs: opts.maxBackoffMs,
    // A probe includes the registry client's own retries (about 1.5 s when the connection is refused).
    pingTimeoutMs: 15_000,
  });

  const processChunk = async (
    producer: TxProducer,
    topic: string,
    partition: number,
    messages: EachBatchPayload['batch']['messages'],
  ): Promise<HandlerResult[]> => {
    const fetchedAt = now();
    const results: HandlerResult[] = [];
    const stages = opts.metrics?.stages;
    const ingestWait = stages?.labels('ingest_wait');
    for (const m of messages) {
      // The producer's timestamp (CreateTime) to this chunk's start: the wait before the hub saw the event.
      const producedAt = Number(m.timestamp);
      if (ingestWait && producedAt > 0) ingestWait.observe(Math.max(0, fetchedAt - producedAt) / 1000);
      const record: IngestRecord = { key: m.key, value: m.value, headers: m.headers };
      const source = { topic, partition, offset: m.offset };
      // A transient registry failure rejects here: the partition waits for the registry (nothing was produced yet).
      let decoded: DecodeResult;
      try {
        decoded = await opts.decode(record);
      } catch (err) {
        throw new DecodeUnavailable(record, err);
      }
      let result: HandlerResult;
      try {
        result = opts.handler({ record, decoded, source, receivedAt: fetchedAt });
      } catch (err) {
        // A bug must not wedge the partition: quarantine the record with what went wrong.
        result = opts.handler({
          record,
          decoded: { ok: false, code: INGEST_CODES.processingError, reason: errorMessage(err) },
          source,
          receivedAt: fetchedAt,
        });
      }
      results.push(result);
    }
    const last = messages[messages.length - 1]!.offset;
    const started = now();
    try {
      await producer.commit(
        results.flatMap((r) => r.records),
        opts.groupId,
        { topic, partition, offset: (BigInt(last) + 1n).toString() },
      );
    } catch (err) {
      opts.metrics?.transactionsAborted.inc();
      throw err;
    }
    const committedAt = now();
    opts.metrics?.transactionSeconds.observe((committedAt - started) / 1000);
    if (stages) {
      // Per event, so the budget's stages weigh alike: every event of the chunk waited for all of it.
      const process = stages.labels('ep_process');
      const transaction = stages.labels('ep_transaction');
      for (let i = 0; i < messages.length; i++) {
        process.observe((started - fetchedAt) / 1000);
        transaction.observe((committedAt - started) / 1000);
      }
    }
    return results;
  };

  const account = (
    topic: string,
    partition: number,
    offsets: string[],
    results: HandlerResult[],
    fetchedAt: number,
  ) => {
    const m = opts.metrics;
    const latency = (now() - fetchedAt) / 1000;
    results.forEach((r, i) => {
      for (const entry of r.audit) opts.audit.record(entry);
      const fields = {
        topic,
        partition,
        offset: offsets[i],
        eventId: r.event?.id,
        tenant: r.event?.extensions.tenantid,
      };
      if (r.quarantine) {
        log.warn({ ...fields, code: r.quarantine.code, reason: r.quarantine.reason }, 'quarantined poison record');
        m?.quarantined.inc({ code: r.quarantine.code });
        m?.recordsIn.inc({ topic, format: 'poison' });
      } else {
        log.debug({ ...fields, outcome: r.outcome.type, matches: r.matches, domain: r.domain }, 'event processed');
        m?.recordsIn.inc({ topic, format: r.event ? 'event' : 'unknown' });
        m?.matches.observe(r.matches);
        if (r.domain && r.matches > 0) m?.recordsOut.inc({ domain: r.domain }, r.matches);
      }
      m?.processingLatency.observe(latency);
    });
  };

  const runner = await runConsumer({
    consumer,
    name: 'ingest',
    log,
    topics: opts.topics,
    fromBeginning: opts.fromBeginning ?? true,
    concurrency: opts.concurrency,
    heartbeatMs,
    onFatal: opts.onFatal,
    async handle(batch, ctx) {
      const { topic, partition } = batch;
      // Unresolved records are fetched again from the last resolved offset once the partition resumes.
      if (registry.paused(topic, partition)) return;
      try {
        for (let i = 0; i < batch.messages.length; i += opts.maxBatchRecords) {
          // Stop: finish (commit) the chunk in hand, start no new one. A revoked partition: stop at once.
          if (!ctx.live()) break;
          const chunk = batch.messages.slice(i, i + opts.maxBatchRecords);
          const fetchedAt = now();
          // A producer per chunk: the next chunk of this partition goes out on another one (PRODUCERS_PER_SLOT).
          const producer = await pool.acquire();
          let results: HandlerResult[];
          try {
            results = await processChunk(producer, topic, partition, chunk);
          } finally {
            pool.release(producer);
          }
          ctx.resolve(chunk[chunk.length - 1]!.offset);
          processed += chunk.length;
          account(
            topic,
            partition,
            chunk.map((c) => c.offset),
            results,
            fetchedAt,
          );
          const lag = Number(BigInt(batch.highWatermark) - BigInt(chunk[chunk.length - 1]!.offset) - 1n);
          opts.metrics?.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, lag));
          await ctx.heartbeat();
        }
      } catch (err) {
        if (err instanceof DecodeUnavailable) {
          // Not thrown on to kafkajs: that would log at ERROR and restart the consumer in a loop while the
          // registry is away. The chunks before this one are committed and resolved; this one waits.
          probe ??= err.record;
          opts.metrics?.registryPaused.set(1);
          registry.pauseUntilBack([{ topic, partitions: [partition] }], {
            level: 'warn',
            fields: { topic, partition, err: err.message },
            msg:
              `cannot decode registry-encoded records: ${opts.decodeDependency ?? 'the schema registry'} does not ` +
              'answer. The partition is paused, nothing is committed or quarantined, and it resumes when the registry ' +
              'answers; check that the registry is running and reachable from the event-processor (URL, credentials)',
          });
          return;
        }
        log.warn(
          { topic, partition, firstOffset: batch.firstOffset(), err: errorMessage(err) },
          'ingest batch failed; transaction aborted, the batch will be retried',
        );
        throw err;
      }
    },
  });
  // Subscribed and running; treat as running even before the first GROUP_JOIN event (stop is safe either way).
  running = true;

  return {
    isRunning: () => running,
    processed: () => processed,
    async stop() {
      running = false;
      const probing = registry.stop(); // no more probes or resumes from here on
      // Stop fetching, wait for the running batches (each finishes its chunk), leave the group.
      await runner.stop(opts.stopGraceMs ?? 30_000);
      await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
      await probing;
    },
  };
}
