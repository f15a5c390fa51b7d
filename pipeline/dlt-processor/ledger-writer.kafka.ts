/**
 * The ledger writer: `<prefix>.ledger.v1` and the outbox topics -> Postgres (LedgerEvent, LedgerDelivery,
 * LedgerAttempt), committing an offset only after the transaction that holds its record has committed (as the DLT
 * consumer, dlt.kafka.ts). An outbox record is read as the event (its first record: the event row with its payload)
 * or a PENDING delivery (ledger-from-outbox.ts): the event-processor sends no ledger record of its own.
 *
 *   eachBatch ─ decode every record (a bundle of ledger records, ledger-record.ts; an entry that is not a ledger
 *   record -> warn + hub_ledger_records_invalid_total, skipped; past retention -> skipped) ─ take IN_FLIGHT_BYTES
 *   (waiting, heartbeating, while full) ─ resolve the batch and return: kafkajs fetches the next batches while this
 *   one is written (it fetches from a broker again only when every batch of the last fetch has returned)
 *     in the background: store.write (ONE call, one transaction, idempotent; batches in flight together are gathered
 *     for GATHER_MS and share transactions, two at once: coalesce-writes.ts) ─▶ facts ─▶ commit lastOffset+1, in
 *     each partition's order (a batch's commit waits for every earlier batch of its partition; the commits of one
 *     turn as one request: consumer-runner.ts). A rebalance or a stop waits for this work before it goes on.
 *        │ write throws (persist-batch.ts, shared with the DLT consumer)
 *        ├ RecordRefusedError (Postgres refuses what a record holds) ─▶ write record by record; a record still
 *        │     refused is logged, counted invalid and skipped (never a stuck partition)
 *        └ anything else (Postgres away) ─▶ pause the topics, probe with backoff, resume when it answers; the
 *              partition is rewound to the batch (kafkajs `seek`) and nothing of it from there on is committed, so
 *              the batch and the ones handed on after it are fetched again. The same batch failing MAX_STRIKES
 *              rounds while Postgres answers is taken apart record by record.
 *   facts (with `facts`): the batch's DELIVERED / FAILED delivery records as facts (fact-producer.kafka.ts; batches
 *   in flight together produce theirs together), acknowledged before the commit; a failed produce rewinds the
 *   partition as above (written again, idempotent; its facts produced again with the same ids), so a fact is never
 *   dropped.
 *
 * Partitions: today's and tomorrow's at start, each batch's days before it is written (store.write); retention
 * drops whole day partitions older than `retentionDays`, at start and every hour.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { ByteBudget, KeyedSerialQueue, Semaphore } from '../shared/concurrency';
import { errorMessage } from '../shared/errors';
import { FETCH_MAX_WAIT_MS } from '../shared/kafka/client';
import { runConsumer } from '../shared/kafka/consumer-runner';
import { pauseWhileDbAway } from '../shared/kafka/pause-while-db-away';
import { coalesceWrites } from '../shared/ledger/coalesce-writes';
import { ledgerRecordsOfOutbox } from '../shared/ledger/ledger-from-outbox';
import { decodeLedgerMessage, type LedgerRecord } from '../shared/ledger/ledger-record';
import {
  admissibility,
  LEDGER_TABLES,
  type LedgerWriterStore,
  retentionCutoff,
  startDays,
} from '../shared/ledger/ledger-store';
import type { Logger } from '../shared/logging/logger';
import type { DeliveryFactSink } from './fact-producer.kafka';
import type { DltMetrics } from './metrics';
import { createBatchWriter } from './persist-batch';

/**
 * Ledger records one transaction takes at most when partition batches are merged (one batch is never split). Postgres's
 * CPU per row is flat from ~1,000 rows a transaction (bench/ledger-store.ts: 0.08 ms per delivery at 200, 0.05-0.06
 * at 1,000 and at 5,000), so a catch-up's 10 MB fetch is written as several transactions, two at once.
 */
const COALESCE_MAX_RECORDS = 5_000;
/**
 * How long the first partition batch of a fetch waits for the others (they arrive within a few milliseconds: kafkajs
 * hands a fetch's batches to its workers together and fetches again only when all are done).
 */
const GATHER_MS = 10;
/**
 * The fetch waits for this much (or FETCH_MAX_WAIT_MS): at saturation the outbox and ledger topics grow by ~6-8 MB/s,
 * so a fetch holds several hundred deliveries and its one transaction is near the cheap size. 256 KB fetches made
 * transactions of ~190 deliveries during a saturation run (526 commits for 100,000; Postgres 0.077 ms of CPU per
 * delivery), 1 MB ones ~390 (258 commits; 0.057 ms). Never above kafkajs's `maxBytesPerPartition` (1 MB): when only
 * one partition is behind, a fetch can hold no more than that, and each one waited out FETCH_MAX_WAIT_MS (2 MB: the
 * catch-up after a saturation run took 19 s instead of 6.6). BENCHMARKS.md, 2026-12-02, 21:30 section.
 */
const FETCH_MIN_BYTES = 1024 * 1024;
/** Partition batches in hand at once: every partition of a fetch (the ledger topic's and the four outbox topics'). */
const CONCURRENCY = 64;
/**
 * Transactions in flight at once (the store's lock order lets them overlap without deadlocks): while Postgres
 * executes one, the next is built, and a backlog is written on two cores. After 100,000 events at saturation the
 * ledger caught up in 10.7-17.2 s with two against 15.2-24.1 s with one (BENCHMARKS.md, 2026-12-02, 09:15-10:30).
 */
const COALESCE_PARALLEL = 2;
/**
 * Bytes of records (their values) handed on and not yet committed. A batch's offsets are resolved when it is handed
 * on, so kafkajs fetches the next while its transaction runs (it fetches from a broker again only when every batch
 * of the last fetch has returned), and committed once it is written, in each partition's order. About two fetches.
 */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;

export interface LedgerWriterOptions {
  kafka: Kafka;
  /** topics.ledger */
  topic: string;
  /** topics.allOutbox(): the events' rows and payloads are read from their outbox records (read_committed). */
  outboxTopics?: string[];
  /** `<GROUP_ID>-ledger` */
  groupId: string;
  store: LedgerWriterStore;
  log: Logger;
  /** LOG_RETENTION_DAYS (default 14): whole day partitions older than this are dropped. */
  retentionDays?: number;
  /** How often retention runs (default 1 h). */
  retentionIntervalMs?: number;
  metrics?: Pick<DltMetrics, 'ledgerRows' | 'ledgerLag' | 'ledgerOldestAge' | 'ledgerInvalid'>;
  /**
   * Partition batches in hand at once (default 64: every partition of a fetch). A fetch's batches are gathered for
   * GATHER_MS and written together, up to COALESCE_MAX_RECORDS per transaction, two transactions at once
   * (coalesce-writes.ts). Without the gathering, 12 made no larger transactions than 4 (the first two batches of
   * each fetch went alone): BENCHMARKS.md, 2026-12-02.
   * Ledger bundles are unkeyed, so one delivery's records sit in any partition and concurrent transactions (writer
   * instances, a rollout) write the same rows: the store takes its row locks in one global order so they cannot
   * deadlock (ledger-store.ts), and retries a deadlock it meets anyway.
   */
  concurrency?: number;
  /** Upper bound of the probe backoff while Postgres is away (default 5 s). */
  maxBackoffMs?: number;
  /** How long a ping may take before the database counts as away (default 5 s). */
  pingTimeoutMs?: number;
  /** The consumer stopped for good (kafkajs will not restart it): the owner exits so the instance is restarted. */
  onFatal?: (err: Error) => void;
  /** Delivery-side facts (issue 18), produced after the write and before the commit. */
  facts?: DeliveryFactSink;
  /** Test hook: runs after a batch's facts were produced and before its offset is committed (crash injection). */
  afterFacts?: () => Promise<void>;
  /** Consumer group session timeout (default 10 s): how soon a restarted writer is back. */
  sessionTimeoutMs?: number;
}

export interface LedgerWriter {
  stop(): Promise<void>;
  /** True while the writer is paused because Postgres does not answer. */
  paused(): boolean;
  /** Makes today's and tomorrow's partitions and drops the days past retention; the days dropped. */
  runRetention(): Promise<string[]>;
}

interface Skipped {
  offset: string;
  reason: string;
}

export async function startLedgerWriter(opts: LedgerWriterOptions): Promise<LedgerWriter> {
  const log = opts.log.child({ component: 'ledger-writer' });
  const retentionDays = opts.retentionDays ?? 14;
  const metrics = opts.metrics;
  const heartbeatMs = Math.min(3_000, Math.floor((opts.sessionTimeoutMs ?? 10_000) / 3));
  const outboxTopics = opts.outboxTopics ?? [];
  const allTopics = [opts.topic, ...outboxTopics];
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    // Off the hot path: fetch bigger batches (up to FETCH_MAX_WAIT_MS late), so each transaction writes more rows.
    minBytes: FETCH_MIN_BYTES,
    maxBytesPerPartition: FETCH_MIN_BYTES,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: heartbeatMs,
  });

  // Per topic partition: records behind its high watermark, and the `at` of the oldest record fetched but not written.
  const lag = new Map<string, number>();
  const oldest = new Map<string, number>();
  const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const showLag = () => metrics?.ledgerLag.set([...lag.values()].reduce((a, b) => a + b, 0));
  const showAge = () => {
    const first = Math.min(...oldest.values());
    metrics?.ledgerOldestAge.set(oldest.size === 0 ? 0 : Math.max(0, (Date.now() - first) / 1000));
  };
  const ageTimer = setInterval(showAge, 1000);
  ageTimer.unref();
  /**
   * Per topic partition of this group generation: its batches handed on and not yet committed (oldest first), the
   * offset after the last one committed, the high watermark last seen, and how often it was rewound (a batch not
   * written: the partition is read again from that batch, and what was handed on after it is not committed).
   */
  interface PartitionState {
    epoch: number;
    inflight: { first: bigint; at: number }[];
    done?: bigint;
    hw: bigint;
    /** The `at` of the oldest record of a batch not written (rewound), until a batch of the partition is. */
    unwrittenAt?: number;
    /** Where a fetch of transaction markers only left kafkajs (no records reach eachBatch): read up to there. */
    markers?: bigint;
  }
  let parts = new Map<string, PartitionState>();
  let generation = 0;
  const partitionState = (key: string): PartitionState => {
    const known = parts.get(key);
    if (known) return known;
    const p: PartitionState = { epoch: 0, inflight: [], hw: 0n };
    parts.set(key, p);
    return p;
  };
  /** The partition's lag (records from its oldest unwritten one to its high watermark) and oldest unwritten record. */
  const showPartition = (key: string, p: PartitionState) => {
    const read = p.markers !== undefined && (p.done === undefined || p.markers > p.done) ? p.markers : p.done;
    const from = p.inflight[0]?.first ?? read ?? p.hw;
    lag.set(key, Math.max(0, Number(p.hw - from)));
    const at = p.inflight.reduce((min, b) => Math.min(min, b.at), p.unwrittenAt ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(at)) oldest.set(key, at);
    else oldest.delete(key);
    showLag();
    showAge();
  };
  consumer.on(consumer.events.GROUP_JOIN, () => {
    // Partitions may have moved to another instance: what they were is that instance's to show now. Work handed on
    // in the last generation finishes on its own state (it never rewinds a partition of this one: this generation
    // reads from the committed offsets, which are before anything that generation did not write).
    generation++;
    parts = new Map();
    lag.clear();
    oldest.clear();
    showLag();
    showAge();
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    if (e.payload.batchSize !== 0 || !allTopics.includes(e.payload.topic)) return;
    // A fetch of transaction markers only (no records reach eachBatch): the partition is read up to its high
    // watermark, once what is in flight before the markers is written.
    const key = tp(e.payload.topic, e.payload.partition);
    const p = partitionState(key);
    const hw = BigInt(e.payload.highWatermark);
    if (hw > p.hw) p.hw = hw;
    if (p.markers === undefined || hw > p.markers) p.markers = hw;
    showPartition(key, p);
  });
  /** Bytes of records handed on and not yet committed (IN_FLIGHT_BYTES). */
  const inFlight = new ByteBudget(IN_FLIGHT_BYTES);
  const commitOrder = new KeyedSerialQueue();
  /** The batches handed on and not finished (written, facts produced, committed): a rebalance or a stop waits on it. */
  const handedOn = new Semaphore(Number.POSITIVE_INFINITY);
  const handedOnDone = async (deadline: number) => void (await handedOn.whenIdle(deadline));

  const db = pauseWhileDbAway({
    consumer,
    topics: allTopics,
    ping: () => opts.store.ping(),
    log,
    what: 'ledger records',
    maxBackoffMs: opts.maxBackoffMs,
    pingTimeoutMs: opts.pingTimeoutMs,
  });
  const written = (counts: Record<string, number>) => {
    for (const table of LEDGER_TABLES) if (counts[table]) metrics?.ledgerRows.inc({ table }, counts[table]);
  };
  // Partitions written in parallel share transactions (coalesce-writes.ts): what arrives while one is written goes
  // into the next.
  const storeWrite = coalesceWrites((records: LedgerRecord[]) => opts.store.write(records), {
    maxRecords: COALESCE_MAX_RECORDS,
    none: { LedgerEvent: 0, LedgerDelivery: 0, LedgerAttempt: 0 },
    parallel: COALESCE_PARALLEL,
    gatherMs: GATHER_MS,
  });
  // The facts of a fetch's batches (written in one transaction, so done together) as one produce, not one each.
  const factsEmit = opts.facts
    ? coalesceWrites((records: LedgerRecord[]) => opts.facts!.emit(records), {
        maxRecords: COALESCE_MAX_RECORDS * 2,
        none: 0,
        gatherMs: 1,
        // A failed produce is the broker's, not one batch's: every batch of it is read again (below), at once.
        splitOnFailure: false,
      })
    : undefined;
  const writer = createBatchWriter<{ offset: string; record: LedgerRecord }>({
    write: async (records) => written(await storeWrite(records.map((r) => r.record))),
    writeAlone: async (records) => written(await opts.store.write(records.map((r) => r.record))),
    alive: db.alive,
    pauseUntilBack: db.pauseUntilBack,
    log,
    takenApart: 'ledger batch refused; writing it record by record',
  });
  let factFailures = 0;

  const runRetention = async (): Promise<string[]> => {
    try {
      await opts.store.ensureDays(startDays());
      const dropped = await opts.store.dropPartitionsBefore(retentionCutoff(new Date(), retentionDays));
      if (dropped.length > 0) log.info({ dropped, retentionDays }, 'dropped ledger day partitions past retention');
      return dropped;
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'ledger retention failed; will try again next interval');
      return [];
    }
  };
  await runRetention();
  const retentionTimer = setInterval(() => void runRetention(), opts.retentionIntervalMs ?? 3_600_000);
  retentionTimer.unref();

  const runner = await runConsumer({
    consumer,
    name: 'ledger',
    log,
    topics: allTopics,
    // A new group reads the outbox topics from their start: the events produced before the writer first joined are
    // on record too (a group that has offsets goes on from them).
    fromBeginning: true,
    concurrency: opts.concurrency ?? CONCURRENCY,
    heartbeatMs,
    onFatal: opts.onFatal,
    async handle(batch, ctx) {
      // Unresolved records are fetched again from the last resolved offset once the topic resumes.
      if (batch.messages.length === 0 || db.paused()) return;
      const key = tp(batch.topic, batch.partition);
      const part = partitionState(key);
      // A batch handled after its partition was rewound and before kafkajs applied the seek is read again from there.
      const epoch = part.epoch;
      const gen = generation;
      const admissible = admissibility(new Date(), retentionDays);
      const records: { offset: string; record: LedgerRecord }[] = [];
      const skipped: Skipped[] = [];
      let bytes = 0;
      // Written if admissible; past retention dropped quietly; anything else skipped with its reason.
      const take = (offset: string, record: LedgerRecord) => {
        const ok = admissible(record);
        if (ok.ok) records.push({ offset, record });
        else if (!ok.expired) skipped.push({ offset, reason: ok.reason });
      };
      const fromOutbox = batch.topic !== opts.topic;
      for (const m of batch.messages) {
        bytes += m.value?.length ?? 0;
        if (fromOutbox) {
          // An outbox record: its event (the first of an event) or its PENDING delivery.
          const read = ledgerRecordsOfOutbox(m);
          if ('reason' in read) skipped.push({ offset: m.offset, reason: read.reason });
          else for (const record of read.records) take(m.offset, record);
          continue;
        }
        // A bundle of ledger records (ledger-record.ts): its valid entries are written, the others skipped.
        const decoded = decodeLedgerMessage(m.value);
        for (const bad of decoded.invalid)
          skipped.push({
            offset: decoded.records.length + decoded.invalid.length > 1 ? `${m.offset}#${bad.index}` : m.offset,
            reason: bad.reason,
          });
        for (const record of decoded.records) take(m.offset, record);
      }
      // In flight at most IN_FLIGHT_BYTES (the wait heartbeats); not live any more: left unresolved, read again.
      if (!(await ctx.acquire(inFlight.slots(bytes)))) return;
      if (part.epoch !== epoch) {
        inFlight.give(bytes);
        return;
      }
      const first = batch.firstOffset() ?? batch.messages[0]!.offset;
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      // Resolved now, committed once written: kafkajs fetches the next batch while this one's transaction runs.
      ctx.resolve(batch.lastOffset());
      const at = records.reduce((min, r) => Math.min(min, Date.parse(r.record.at)), Number.POSITIVE_INFINITY);
      const mine = { first: BigInt(first), at };
      part.inflight.push(mine);
      if (BigInt(batch.highWatermark) > part.hw) part.hw = BigInt(batch.highWatermark);
      showPartition(key, part);
      const refused = ({ offset }: { offset: string }, err: unknown) => {
        skipped.push({ offset, reason: `refused by Postgres: ${errorMessage(err)}` });
      };
      const work = (async (): Promise<boolean> => {
        if (records.length > 0 && !(await writer.persist(records, key, first, refused))) return false;
        if (records.length > 0 && factsEmit) {
          try {
            await factsEmit(records.map((r) => r.record));
            await opts.afterFacts?.();
          } catch (err) {
            // Nothing committed: the batch is read again from its first offset (the rows are idempotent; its facts
            // are produced again with the same ids).
            factFailures++;
            const backoffMs = Math.min(opts.maxBackoffMs ?? 5000, 100 * 2 ** Math.min(factFailures, 6));
            log.warn(
              { err: errorMessage(err), partition: batch.partition, backoffMs },
              'facts not produced; the ledger batch will be read again',
            );
            await new Promise((r) => setTimeout(r, backoffMs));
            return false;
          }
          factFailures = 0;
        }
        return true;
      })();
      // Commits in the partition's order: a batch's offset only after every earlier batch of it was written.
      handedOn.tryAcquire();
      void commitOrder
        .run(key, async () => {
          const ok = await work.catch(() => false);
          if (part.epoch !== epoch) return; // an earlier batch of the partition failed: read again from there
          if (!ok) {
            // A generation later the partition is read from its committed offset, before this batch: no rewind.
            if (gen !== generation) return;
            // Not written (Postgres away: the topics are paused until it is back) or its facts not produced: this
            // partition is read again from this batch's first offset; the batches after it are not committed.
            part.epoch++;
            part.done = BigInt(first);
            part.markers = undefined;
            part.unwrittenAt = Math.min(part.unwrittenAt ?? at, at);
            try {
              consumer.seek({ topic: batch.topic, partition: batch.partition, offset: first });
            } catch (err) {
              // The consumer is stopping: nothing was committed past this batch, so the next start reads it again.
              log.info({ err: errorMessage(err), partition: batch.partition }, 'ledger batch left for the next start');
            }
            return;
          }
          await ctx.commit(next);
          part.done = BigInt(next);
          part.unwrittenAt = undefined;
          for (const s of skipped)
            log.warn(
              { topic: batch.topic, partition: batch.partition, offset: s.offset, reason: s.reason },
              'ledger record skipped',
            );
          if (skipped.length > 0) metrics?.ledgerInvalid.inc(skipped.length);
        })
        .catch((err) => log.warn({ err: errorMessage(err), partition: batch.partition }, 'ledger batch not finished'))
        .finally(() => {
          const i = part.inflight.indexOf(mine);
          if (i >= 0) part.inflight.splice(i, 1);
          // A partition of an earlier generation is another instance's to show now (or shown afresh by this one).
          if (parts.get(key) === part) showPartition(key, part);
          inFlight.give(bytes);
          handedOn.release();
        });
      await ctx.heartbeat();
    },
    // A rebalance or a stop waits for what is in flight (its commits still count in this generation).
    onRevoke: handedOnDone,
    onStop: handedOnDone,
  });
  return {
    paused: () => db.paused(),
    runRetention,
    async stop() {
      clearInterval(retentionTimer);
      clearInterval(ageTimer);
      const probing = db.stop(); // no more probes or resumes from here on
      await runner.stop();
      await probing;
    },
  };
}
