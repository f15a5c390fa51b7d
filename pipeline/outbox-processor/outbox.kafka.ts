/**
 * Kafka adapter of the outbox processor.
 *
 *   4 outbox topics (read_committed) ─runConsumer (shared/kafka/consumer-runner.ts)─▶ per record, in typed stages (each its own module):
 *     decode (pure, decode-record.ts) ─ malformed ──────────────────────────────────────────────────────────▶ DLT (FAILED row)
 *     admit (admit-record.ts): the delivery gate (shared/delivery/gate.ts), before any fast path
 *        ├ refuse (unknown, deleted, other tenant, blocked endpoint) ─────────────────────▶ DLT as SKIPPED + reason
 *        ├ hold (paused) ───────────────────────────────────────────────────────────────▶ DLT as HELD (resume)
 *        └ admit ─ unordered, deliver (deliver-record.ts): breaker open / endpoint saturated ─▶ DLT (schedule)
 *                │            else per-endpoint slot ─▶ handler (short in-process retries, gate before each)
 *                └ ordered: per (subscription, tenant) lane, one after another:
 *                             lane blocked in Postgres? ─ yes ─▶ park behind its head (Postgres, in order)
 *                             else as unordered; a failure or a hold parks the record as the lane's head
 *     settle (settle-record.ts): delivered | DLT produce (batched sendBatch, acks=-1, awaited) | lane park (Postgres, awaited)
 *        └─ received(offset) ───────────────▶ OffsetManager.complete(outcome) ─▶ commits contiguous completed offsets
 *
 * Ordered lanes are parked in Postgres directly, not through the DLT topic: the next record of a lane must see its
 * blocked head before it can be delivered, and a DLT record may still be on its way to the dlt-processor. The
 * dlt-processor attempts a lane at its head only and in offset order (failure-store.prisma.ts `claimDue`).
 *
 * The batch handler only dispatches: deliveries run in the background, so records finish out of order and a slow
 * subscriber never holds back another's deliveries or the partition's heartbeat. Bounded concurrency in total,
 * per partition (the handler waits for a slot, the runner heartbeating, when full) and per endpoint. An offset is committed only when
 * its record and every earlier record of its partition are delivered, skipped or durably in the DLT.
 *
 * Shutdown: stop dispatching, cut retry waits short (those records go to the DLT), let in-flight attempts
 * finish within the grace period, commit, then leave the group.
 *
 * Rebalance: stop dispatching, leave records not yet started to the partitions' next owner, let in-flight attempts
 * finish (bounded), commit, then let kafkajs re-join (see onRevoke).
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { headerString } from '../shared/cloudevents/header-value';
import { ByteBudget, KeyedSerialQueue, Semaphore } from '../shared/concurrency';
import type { GateDeps } from '../shared/delivery/gate';
import { scheduledDelay } from '../shared/delivery/retry-schedule';
import { errorMessage, retriable } from '../shared/errors';
import { BatchingProducer } from '../shared/kafka/batching-producer';
import { FETCH_MAX_WAIT_MS } from '../shared/kafka/client';
import { type ConsumerRunner, runConsumer } from '../shared/kafka/consumer-runner';
import { keepTrying } from '../shared/kafka/keep-trying';
import type { LedgerSink } from '../shared/ledger/ledger';
import { kafkaLedgerSink } from '../shared/ledger/ledger-sink.kafka';
import type { Logger } from '../shared/logging/logger';
import { type FailureStore, LANE_WAIT, type LaneKey, RecordRefusedError } from '../shared/parked/failure-store';
import { parseDltRecord, scheduleFirstAttempt } from '../shared/parked/parse-dlt-record';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { DOMAINS, type Domain, HUB_HEADERS, type TopicNames } from '../shared/topics';
import { admitRecord } from './admit-record';
import { decodeOutboxRecord, type OutboxRecord } from './decode-record';
import { ABANDONED, createDeliverStage, type EndpointGates } from './deliver-record';
import { dltHeaders, type ParkInfo } from './dlt-record';
import type { DeliveryOutcome, OutboxItem } from './handler';
import type { Outcome } from './ledger-records';
import type { OutboxMetrics } from './metrics';
import { OffsetManager, type OffsetTicket, type TerminalOutcome } from './offset-manager';
import { createSettleStage } from './settle-record';

export interface OutboxRunnerOptions {
  kafka: Kafka;
  topics: TopicNames;
  groupId: string;
  directory: SubscriptionLookup;
  /** The gate's endpoint check (pass the handler the same). */
  endpointRejection?: GateDeps['endpointRejection'];
  handle: (item: OutboxItem) => Promise<DeliveryOutcome>;
  /**
   * Where ordered lanes are parked, in order (Postgres). Without it, an ordered subscription's failed or held
   * records go to the DLT topic like any other (order is then kept only while the endpoint answers).
   */
  lanes?: Pick<FailureStore, 'persistBatch' | 'laneBlocked' | 'blockedLanes' | 'releaseLaneWait'>;
  /**
   * The delivery ledger: one attempt record per HTTP attempt and the delivery's new state, per record. `ledgerTopic`
   * sends them through this consumer's own batching producer (with its DLT records); `ledger` is any sink.
   */
  ledger?: LedgerSink;
  ledgerTopic?: string;
  /** How long a ledger bundle gathers outcome records before it is produced (LEDGER_LINGER_MS; ledger-sink.kafka.ts). */
  ledgerLingerMs?: number;
  /** The retry schedule of a subscription, for the first scheduled attempt of a parked lane head. */
  scheduleFor?: (sub: SubscriptionSnapshot) => readonly number[];
  retryAfterCapMs?: number;
  /** Records an ordered lane may have waiting behind its head in this process before they are parked (default 32). */
  orderedLaneQueue?: number;
  /** How long a lane's head must have been running for the lane to count as stalled (default `endpointStallMs`). */
  laneStallMs?: number;
  /** Whether the endpoint's circuit is open now: its records go to the DLT without waiting for a slot. */
  breakerOpen?: (endpointUrl: string) => boolean;
  /** Aborted by stop(): the handler stops waiting between retries. Pass the same signal to the handler. */
  shutdown?: AbortController;
  log: Logger;
  metrics: OutboxMetrics;
  maxInFlight: number;
  /**
   * Bytes of records (key, value, headers) in flight, in total: with large events the record count alone would let
   * MAX_IN_FLIGHT of them fill the heap. A record larger than this is still taken, alone. Default: unbounded.
   */
  maxInFlightBytes?: number;
  maxInFlightPerPartition: number;
  perEndpointConcurrency: number;
  /**
   * Records waiting for one endpoint's slots beyond this go to the DLT (retried there) instead of piling up — when
   * the endpoint has delivered nothing for `endpointStallMs` (see endpoint-gate.ts); a busy healthy one is waited for.
   */
  perEndpointQueue: number;
  endpointStallMs?: number;
  /** The endpoints' gates, shared with the batcher (main.ts); else the deliver stage makes its own. */
  endpointGates?: EndpointGates;
  /**
   * Sends what batched subscriptions' open batches hold (batch.ts) at once: called when a rebalance drains and at
   * stop, so no record waits out its batch's maxWaitMs while its partition is being given up.
   */
  flushBatches?: () => void;
  partitionsConsumedConcurrently: number;
  commitIntervalMs: number;
  sessionTimeoutMs?: number;
  /**
   * When the group starts a rebalance, this instance waits up to this long for its in-flight records and commits
   * them before it re-joins, so the partitions' next owner does not deliver them again (see drainForRebalance).
   */
  rebalanceDrainMs?: number;
  /** The consumer stopped for good (kafkajs will not restart it): the owner exits so the instance is restarted. */
  onFatal?: (err: Error) => void;
}

export interface OutboxConsumer {
  /** Records dispatched and not finished. */
  inFlight(): number;
  stop(graceMs: number): Promise<void>;
}

/** The terminal outcome an adapter outcome reports to the offset manager. */
function terminalOf(outcome: Outcome): TerminalOutcome {
  switch (outcome.type) {
    case 'delivered':
    case 'skipped':
    case 'held':
      return outcome.type;
    case 'parkBehind':
      return 'parked';
    case 'deadLetter':
      return 'deadLettered';
  }
}

export async function startOutboxConsumer(opts: OutboxRunnerOptions): Promise<OutboxConsumer> {
  const { log, metrics } = opts;
  const outboxWait = metrics.stages.labels('outbox_wait');
  const total = new Semaphore(opts.maxInFlight);
  const bytes = new ByteBudget(opts.maxInFlightBytes ?? Number.POSITIVE_INFINITY);
  const perPartition = new Map<string, Semaphore>();
  const ordered_ = new KeyedSerialQueue();
  const outboxTopics = new Map<string, Domain>(DOMAINS.map((d) => [opts.topics.outbox(d), d]));
  const shutdown = opts.shutdown ?? new AbortController();
  let stopping = false;

  const producer = opts.kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const dlt = new BatchingProducer(producer);
  const ledger = opts.ledgerTopic
    ? kafkaLedgerSink(dlt, opts.ledgerTopic, { lingerMs: opts.ledgerLingerMs })
    : opts.ledger;
  const heartbeatInterval = Math.min(3_000, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 3));
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    heartbeatInterval,
  });
  // Commits, the commit timer and the group generation: dispatch below only reports each record's outcome.
  const offsets = new OffsetManager({
    commit: (o) => consumer.commitOffsets(o),
    commitIntervalMs: opts.commitIntervalMs,
    log,
  });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    // kafkajs fetches from the committed offsets again: records still in flight from before finish
    // (at-least-once) but no longer move the committed offset.
    offsets.newGeneration();
    // Lanes another instance parked while it owned these partitions: their next records must queue behind.
    loadBlockedLanes();
  });
  /** Set by the runner while a rebalance drains (see onRevoke below): nothing new is started. */
  let runner: ConsumerRunner | undefined;

  const partitionSlots = (key: string) => {
    let s = perPartition.get(key);
    if (!s) {
      s = new Semaphore(opts.maxInFlightPerPartition);
      perPartition.set(key, s);
    }
    return s;
  };

  /** Produces the DLT copy; keeps trying while the broker is away (the offset cannot advance without it). */
  const toDlt = async (topic: string, partition: number, message: OutboxRecord, f: ParkInfo) => {
    const domain = outboxTopics.get(topic) ?? 'organization';
    const msg = {
      topic: opts.topics.dlt(domain),
      key: message.key ?? null,
      value: message.value,
      headers: dltHeaders(message, { topic, partition }, f),
    };
    await keepTrying('DLT produce', () => dlt.send(msg), {
      log,
      stopping: () => stopping,
      context: { topic, partition, offset: message.offset },
    });
  };

  /**
   * A record not yet started when its instance is about to give up its partitions (a rebalance is draining, or
   * the group was joined again since it was fetched) is left alone: it is not delivered, not completed, so its
   * offset is not committed and the partition's next owner delivers it, once.
   */
  const shouldAbandon = (fetchedIn: OffsetTicket) => runner?.revoking() === true || !offsets.isCurrent(fetchedIn);
  const gateDeps: GateDeps = { directory: opts.directory, endpointRejection: opts.endpointRejection };

  /** When a record of an ordered lane was parked (its ledger records must be older than any later outcome). */
  const parkedAt = new WeakMap<KafkaMessage, Date>();

  // --- ordered lanes --------------------------------------------------------------------------------------------
  /** Lanes with a parked, unresolved delivery (Postgres is asked again before each of their records). */
  const blockedLanes = new Set<string>();
  /** Records waiting in each lane's serial queue in this process. */
  const laneDepth = new Map<string, number>();
  /** When the record running at each lane's head started (a lane is stalled when that is long ago). */
  const laneHeadSince = new Map<string, number>();
  const laneQueueLimit = Math.max(
    1,
    Math.min(opts.orderedLaneQueue ?? 32, Math.floor(opts.maxInFlightPerPartition / 4)),
  );
  const laneId = (l: LaneKey) => `${l.subscriptionId}\u0000${l.tenantId}`;
  let lanesLoaded: Promise<void> = Promise.resolve();
  const loadBlockedLanes = () => {
    const lanes = opts.lanes;
    if (!lanes) return;
    lanesLoaded = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          for (const l of await lanes.blockedLanes()) blockedLanes.add(laneId(l));
          return;
        } catch (err) {
          if (stopping) return;
          log.warn({ err: errorMessage(err), attempt }, 'cannot read blocked ordered lanes from Postgres; retrying');
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
        }
      }
    })();
  };

  /**
   * Parks a record of an ordered lane in Postgres, in lane order (its outbox offset), and waits until it is stored:
   * the lane's next record checks the lane before it may be delivered. Keeps trying while Postgres is away (the
   * lane and the partition's commits wait; other lanes go on). A row Postgres refuses goes through the DLT topic.
   */
  const park = async (
    topic: string,
    partition: number,
    message: KafkaMessage,
    sub: SubscriptionSnapshot | undefined,
    f: ParkInfo,
    dueNow: boolean,
  ): Promise<'PENDING' | 'FAILED' | 'HELD' | 'SKIPPED'> => {
    const lanes = opts.lanes!;
    parkedAt.set(message, new Date());
    const domain = outboxTopics.get(topic) ?? 'organization';
    const headers = dltHeaders(message, { topic, partition }, f);
    const now = new Date();
    let row = parseDltRecord(opts.topics.dlt(domain), partition, { ...message, headers }, now);
    row = { ...row, sourceTopic: topic, ordered: true, laneSeq: message.offset };
    if (dueNow && row.status === 'PENDING') row.nextAttemptAt = now;
    const schedule = sub && opts.scheduleFor ? opts.scheduleFor(sub) : [];
    row = scheduleFirstAttempt(row, (r) => scheduledDelay(schedule, 0, r.retryAfterMs, opts.retryAfterCapMs ?? 0), now);
    try {
      await keepTrying('parking an ordered delivery in Postgres (its lane waits)', () => lanes.persistBatch([row]), {
        log,
        stopping: () => stopping,
        context: { topic, partition, offset: message.offset },
        hopeless: (err) => err instanceof RecordRefusedError,
      });
    } catch (err) {
      // Postgres refuses the row itself: it goes through the DLT topic (stored as a placeholder there).
      if (!(err instanceof RecordRefusedError)) throw err;
      await toDlt(topic, partition, message, f);
    }
    return row.status;
  };

  // --- stages ---------------------------------------------------------------------------------------------------
  const deliverStage = createDeliverStage({
    handle: opts.handle,
    breakerOpen: opts.breakerOpen,
    perEndpointConcurrency: opts.perEndpointConcurrency,
    perEndpointQueue: opts.perEndpointQueue,
    maxInFlightPerPartition: opts.maxInFlightPerPartition,
    endpointStallMs: opts.endpointStallMs,
    gates: opts.endpointGates,
  });
  const deliver = (item: OutboxItem, sub: SubscriptionSnapshot, fetchedIn: OffsetTicket) =>
    deliverStage(item, sub, () => !shouldAbandon(fetchedIn));
  const { settle, malformed } = createSettleStage({
    toDlt: (at, f) => toDlt(at.topic, at.partition, at.record, f),
    // Emits ledger records, trying again while the broker is away (the offset cannot advance without them).
    emitLedger: ledger
      ? (records) => keepTrying('ledger produce', () => ledger.emit(records), { log, stopping: () => stopping })
      : undefined,
    metrics,
    log,
  });

  /** One record of an ordered lane, run in the lane's serial queue; settles (parks) before the next one runs. */
  const runOrdered = async (
    topic: string,
    partition: number,
    message: KafkaMessage,
    item: OutboxItem,
    fetchedIn: OffsetTicket,
  ): Promise<Outcome | typeof ABANDONED> => {
    if (shouldAbandon(fetchedIn)) return ABANDONED;
    laneHeadSince.set(laneId(item), performance.now());
    const gate = admitRecord(gateDeps, item);
    if (gate.type === 'refuse') return gate.outcome;
    if (!opts.lanes) return gate.type === 'hold' ? gate.outcome : deliver(item, gate.sub, fetchedIn);
    const lane = { subscriptionId: item.subscriptionId, tenantId: item.tenantId };
    const id = laneId(lane);
    await lanesLoaded;
    if (blockedLanes.has(id)) {
      if (await laneBlockedNow(lane)) {
        const held = gate.type === 'hold';
        await park(
          topic,
          partition,
          message,
          gate.sub,
          {
            failure: retriable(
              'DELIVERY.LANE_BLOCKED',
              'waiting behind an earlier undelivered event of its ordered lane',
            ),
            attempts: 0,
            disposition: held ? 'HELD' : 'RETRY',
          },
          true,
        );
        return { type: 'parkBehind', held };
      }
      blockedLanes.delete(id);
    }
    const outcome = gate.type === 'hold' ? gate.outcome : await deliver(item, gate.sub, fetchedIn);
    if (outcome === ABANDONED) return ABANDONED;
    if (outcome.type === 'held' || outcome.type === 'deadLetter') {
      const f: ParkInfo =
        outcome.type === 'held'
          ? { failure: retriable('DELIVERY.HELD', outcome.reason), attempts: 0, disposition: 'HELD' }
          : outcome;
      const status = await park(topic, partition, message, gate.sub, f, false);
      // A FAILED head (permanent failure) does not hold its lane back: it waits for an operator's replay.
      if (status === 'PENDING' || status === 'HELD') blockedLanes.add(id);
    }
    return outcome;
  };
  /** The lane's queue here drained: its LANE_WAIT rows may now be attempted, in order, after what is parked. */
  const releaseLaneWait = async (lane: LaneKey) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.lanes!.releaseLaneWait(lane);
        return;
      } catch {
        // The dlt-processor's sweep releases them later all the same (LANE_WAIT_RELEASE_MS).
        if (stopping || attempt >= 5) return;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  };
  /** Postgres's answer, retried while it is away (the lane waits; other lanes go on). */
  const laneBlockedNow = (lane: LaneKey): Promise<boolean> =>
    keepTrying('checking an ordered lane in Postgres', () => opts.lanes!.laneBlocked(lane), {
      log,
      stopping: () => stopping,
    });

  /** Delivers one record, or parks it; ABANDONED when it was left for the partition's next owner. */
  const processRecord = async (
    topic: string,
    partition: number,
    message: KafkaMessage,
    fetchedIn: OffsetTicket,
  ): Promise<TerminalOutcome | typeof ABANDONED> => {
    const dequeuedAt = performance.now();
    // The budget's outbox_wait: the event-processor's fetch (hub-received-at) to this dequeue.
    const receivedAt = Date.parse(headerString(message.headers?.[HUB_HEADERS.receivedAt] as never) ?? '');
    if (!Number.isNaN(receivedAt)) outboxWait.observe(Math.max(0, Date.now() - receivedAt) / 1000);
    const decoded = decodeOutboxRecord(message);
    if (!decoded.ok) {
      await malformed({ topic, partition, record: message }, decoded.reason);
      return 'deadLettered';
    }
    const { item } = decoded;
    const gate = admitRecord(gateDeps, item);
    const ordered = gate.type !== 'refuse' && gate.sub.ordered;
    let outcome: Outcome | typeof ABANDONED;
    if (ordered) {
      // One tenant's records of an ordered subscription one after another, parks included (the lane's serial queue).
      const id = laneId(item);
      const depth = laneDepth.get(id) ?? 0;
      const headSince = laneHeadSince.get(id);
      const stalled =
        headSince !== undefined && performance.now() - headSince >= (opts.laneStallMs ?? opts.endpointStallMs ?? 1000);
      if (opts.lanes && depth >= laneQueueLimit && stalled) {
        // Over the lane's share of the partition's slots while its head hangs: park in order instead of waiting
        // here. (A healthy lane in a burst waits: its records flow, and parking them would only slow it down.)
        // HELD as LANE_WAIT, so the schedule cannot attempt it before the records still queued in this process;
        // released when the lane's queue here drains (or, after a crash, by the dlt-processor's sweep).
        blockedLanes.add(id);
        await park(
          topic,
          partition,
          message,
          opts.directory.get(item.subscriptionId),
          {
            failure: retriable(LANE_WAIT, 'waiting for the earlier events of its ordered lane still in flight'),
            attempts: 0,
            disposition: 'HELD',
          },
          false,
        );
        outcome = { type: 'parkBehind', held: false };
      } else {
        laneDepth.set(id, depth + 1);
        try {
          outcome = await ordered_.run(id, () => runOrdered(topic, partition, message, item, fetchedIn));
        } finally {
          const left = (laneDepth.get(id) ?? 1) - 1;
          if (left <= 0) {
            laneDepth.delete(id);
            laneHeadSince.delete(id);
          } else laneDepth.set(id, left);
          if (left <= 0 && opts.lanes && blockedLanes.has(id)) await releaseLaneWait(item);
        }
      }
    } else if (shouldAbandon(fetchedIn)) {
      outcome = ABANDONED;
    } else if (gate.type !== 'deliver') {
      outcome = gate.outcome;
    } else {
      outcome = await deliver(item, gate.sub, fetchedIn);
    }
    if (outcome === ABANDONED) return ABANDONED;
    const parked = ordered && opts.lanes !== undefined;
    const ms = Math.round(performance.now() - dequeuedAt);
    await settle({ topic, partition, record: message, item, outcome, parked, parkedAt: parkedAt.get(message), ms });
    return terminalOf(outcome);
  };

  const dispatch = (topic: string, partition: number, message: KafkaMessage, partSlots: Semaphore, size: number) => {
    const ticket = offsets.received(topic, partition, message.offset);
    metrics.inFlight.inc();
    metrics.inFlightBytes.inc(size);
    void processRecord(topic, partition, message, ticket)
      .then(
        (result) => {
          if (result !== ABANDONED) offsets.complete(ticket, result);
        },
        async (err) => {
          const where = { topic, partition, offset: message.offset, err: errorMessage(err) };
          if (stopping) {
            // A DLT produce or lane park that failed during shutdown: uncommitted, redelivered after the restart.
            log.warn(where, 'record not finished at shutdown; it will be redelivered');
            return;
          }
          // No silent stall: an unexpected error completes the record into the DLT (retried on the schedule), or,
          // if even that fails, stops the process so it is restarted and the record redelivered.
          log.error(where, 'unexpected error while processing a record; sending it to the DLT');
          try {
            await toDlt(topic, partition, message, {
              failure: retriable('OUTBOX.INTERNAL', errorMessage(err)),
              attempts: 0,
            });
            offsets.complete(ticket, 'deadLettered');
          } catch (again) {
            opts.onFatal?.(
              new Error(`record ${topic}/${partition}@${message.offset} could not be finished: ${errorMessage(again)}`),
            );
          }
        },
      )
      .finally(() => {
        metrics.inFlight.dec();
        metrics.inFlightBytes.dec(size);
        bytes.give(size);
        partSlots.release();
        total.release();
      });
  };

  /**
   * "Commit on revoke": when the group starts a rebalance, the runner stops dispatching and calls this before it lets
   * kafkajs re-join; the records in flight get until the deadline to finish, and what finished is committed (the
   * coordinator accepts commits of the current generation while it prepares the rebalance), so the partitions' next
   * owner starts after them instead of delivering them again. Records still unfinished at the deadline are delivered
   * again by the next owner (at-least-once).
   */
  const onRevoke = async (deadline: number) => {
    const inFlightAtStart = total.inUse;
    opts.flushBatches?.();
    await total.whenIdle(deadline);
    await offsets.flush();
    log.info({ inFlightAtStart, unfinished: total.inUse }, 'group rebalancing: in-flight records committed');
  };

  runner = await runConsumer({
    consumer,
    name: 'outbox',
    log,
    topics: [...outboxTopics.keys()],
    concurrency: opts.partitionsConsumedConcurrently,
    heartbeatMs: heartbeatInterval,
    rebalanceDrainMs: opts.rebalanceDrainMs,
    onFatal: opts.onFatal,
    onRevoke,
    async onStop(deadline) {
      opts.flushBatches?.();
      if (!(await total.whenIdle(deadline)))
        log.warn({ unfinished: total.inUse }, 'grace period over; unfinished records will be redelivered');
      await offsets.close();
    },
    async handle(batch, ctx) {
      const partSlots = partitionSlots(`${batch.topic}:${batch.partition}`);
      for (const message of batch.messages) {
        if (!ctx.live()) break;
        if (!(await ctx.acquire(total))) break;
        if (!(await ctx.acquire(partSlots))) {
          total.release();
          break;
        }
        const size = recordBytes(message);
        if (!(await ctx.acquire(bytes.slots(size)))) {
          partSlots.release();
          total.release();
          break;
        }
        dispatch(batch.topic, batch.partition, message, partSlots, size);
        // "Resolved" only moves kafkajs's fetch position; commits come from the offset manager.
        ctx.resolve(message.offset);
      }
      await ctx.heartbeat();
    },
  });
  const consumerRunner = runner;

  return {
    inFlight: () => total.inUse,
    async stop(graceMs: number) {
      if (stopping) return;
      stopping = true;
      // No more retry waits: records that still needed one go to the DLT now.
      shutdown.abort();
      await consumerRunner.stop(graceMs);
      await producer.disconnect();
    },
  };
}

/** What a fetched record holds in memory, near enough for the byte budget: key, value and header bytes. */
export function recordBytes(m: Pick<KafkaMessage, 'key' | 'value' | 'headers'>): number {
  let n = (m.value?.length ?? 0) + (m.key?.length ?? 0);
  if (m.headers)
    for (const k in m.headers) {
      const v = m.headers[k];
      n += k.length + (v === undefined ? 0 : Array.isArray(v) ? v.reduce((a, x) => a + x.length, 0) : v.length);
    }
  return n;
}
