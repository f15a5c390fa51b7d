/**
 * Kafka adapter of the outbox processor.
 *
 *   4 outbox topics (read_committed) ─eachBatch─▶ per record: decode ─▶ [ordered? per (subscription, tenant) queue]
 *        ─▶ per-endpoint slot ─▶ handler (retries) ─▶ delivered | skipped | DLT produce (batched, acks=all)
 *        ─▶ OffsetTracker.complete ─▶ periodic commit of the contiguous completed offsets
 *
 * Records finish out of order, so one slow subscriber never holds back another's deliveries; an offset is
 * committed only when its record and every earlier record of the partition are delivered, skipped or in the DLT.
 * Back-pressure: at most MAX_IN_FLIGHT records in flight; an endpoint with a full queue sends its new records
 * straight to the DLT (retried there later) rather than filling the process.
 */
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { fromKafkaBinary, type HubCloudEvent } from '../shared/cloudevents/envelope';
import { headerString } from '../shared/cloudevents/header-value';
import { KeyedSerialQueue, Semaphore } from '../shared/concurrency';
import { errorMessage, type Failure, permanent } from '../shared/errors';
import { OffsetTracker } from '../shared/kafka/offset-tracker';
import type { Logger } from '../shared/logging/logger';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import { DOMAINS, type Domain, HUB_HEADERS, type TopicNames } from '../shared/topics';
import type { DeliveryOutcome, OutboxItem } from './handler';
import { type OutboxMetrics, statusClass } from './metrics';

export interface OutboxRunnerOptions {
  kafka: Kafka;
  topics: TopicNames;
  groupId: string;
  directory: SubscriptionLookup;
  handle: (item: OutboxItem) => Promise<DeliveryOutcome>;
  log: Logger;
  metrics: OutboxMetrics;
  maxInFlight: number;
  perEndpointConcurrency: number;
  perEndpointQueue: number;
  partitionsConsumedConcurrently: number;
  commitIntervalMs: number;
}

interface DltMessage {
  topic: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Batches DLT produces: one sendBatch for everything that failed within a few milliseconds. */
class DltProducer {
  private queue: { msg: DltMessage; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly producer: Producer) {}

  send(msg: DltMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, resolve, reject });
      if (this.queue.length >= 200) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), 5);
    });
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const byTopic = new Map<string, DltMessage[]>();
    for (const { msg } of batch) byTopic.set(msg.topic, [...(byTopic.get(msg.topic) ?? []), msg]);
    try {
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({
          topic,
          messages: msgs.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        })),
      });
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}

export async function startOutboxConsumer(
  opts: OutboxRunnerOptions,
): Promise<{ stop(graceMs: number): Promise<void>; inFlight(): number }> {
  const { log, metrics } = opts;
  const tracker = new OffsetTracker();
  const inFlight = new Semaphore(opts.maxInFlight);
  const endpointSlots = new Map<string, Semaphore>();
  const ordered = new KeyedSerialQueue();
  const pending = new Set<Promise<void>>();
  const outboxTopics = new Map<string, Domain>(DOMAINS.map((d) => [opts.topics.outbox(d), d]));

  const producer = opts.kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const dlt = new DltProducer(producer);
  const consumer: Consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 50,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });
  await consumer.connect();
  for (const topic of outboxTopics.keys()) await consumer.subscribe({ topic, fromBeginning: true });
  // After a rebalance kafkajs fetches from the committed offsets again: start tracking afresh.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const topic of outboxTopics.keys()) for (let p = 0; p < 1024; p++) tracker.forget(topic, p);
  });

  let committing = false;
  const commit = async () => {
    if (committing) return;
    committing = true;
    try {
      const offsets = tracker.drainCommittable();
      if (offsets.length > 0) await consumer.commitOffsets(offsets);
    } catch (err) {
      // A commit lost to a rebalance only means redelivery (at-least-once); the next commit catches up.
      log.warn({ err: errorMessage(err) }, 'offset commit failed; records may be redelivered');
    } finally {
      committing = false;
    }
  };
  const commitTimer = setInterval(() => void commit(), opts.commitIntervalMs);

  const slotFor = (url: string) => {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      origin = url;
    }
    let s = endpointSlots.get(origin);
    if (!s) {
      s = new Semaphore(opts.perEndpointConcurrency);
      endpointSlots.set(origin, s);
    }
    return s;
  };

  const toDlt = (
    topic: string,
    partition: number,
    message: KafkaMessage,
    failure: Failure,
    attempts: number,
    lastStatus?: number,
    first?: Date,
    last?: Date,
  ) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers ?? {})) {
      const s = headerString(v as never);
      if (s !== undefined) headers[k] = s;
    }
    const nowIso = new Date().toISOString();
    Object.assign(headers, {
      [HUB_HEADERS.dltAttempts]: String(attempts),
      [HUB_HEADERS.dltLastStatus]: lastStatus ? String(lastStatus) : '',
      [HUB_HEADERS.dltLastErrorCode]: failure.code,
      [HUB_HEADERS.dltLastError]: failure.message.slice(0, 500),
      [HUB_HEADERS.dltFirstAttemptAt]: (first ?? new Date()).toISOString(),
      [HUB_HEADERS.dltLastAttemptAt]: last?.toISOString() ?? nowIso,
      [HUB_HEADERS.sourceTopic]: topic,
      [HUB_HEADERS.sourcePartition]: String(partition),
      [HUB_HEADERS.sourceOffset]: message.offset,
    });
    const domain = outboxTopics.get(topic) ?? 'organization';
    return dlt.send({
      topic: opts.topics.dlt(domain),
      key: message.key?.toString() ?? null,
      value: message.value,
      headers,
    });
  };

  const processRecord = async (topic: string, partition: number, message: KafkaMessage): Promise<void> => {
    const dequeuedAt = performance.now();
    const decoded = fromKafkaBinary(message.headers as never, message.value);
    const subscriptionId = headerString(message.headers?.[HUB_HEADERS.subscriptionId] as never);
    if (!decoded.ok || !subscriptionId) {
      const reason = decoded.ok ? 'outbox record has no hub-subscription-id header' : decoded.reason;
      await toDlt(topic, partition, message, permanent('OUTBOX.MALFORMED', reason), 0);
      metrics.outcomes.inc({ outcome: 'deadLetter', status_class: 'none' });
      return;
    }
    const event: HubCloudEvent = decoded.event;
    const tenantId =
      headerString(message.headers?.[HUB_HEADERS.tenantId] as never) ??
      event.extensions.tenantid ??
      message.key?.toString() ??
      '';
    const sub = opts.directory.get(subscriptionId);
    const run = async (): Promise<DeliveryOutcome> => {
      if (!sub) return opts.handle({ event, subscriptionId, tenantId });
      const slot = slotFor(sub.endpointUrl);
      if (slot.waiting >= opts.perEndpointQueue) {
        return {
          type: 'deadLetter',
          failure: permanent('DELIVERY.ENDPOINT_SATURATED', 'endpoint queue full; sent to the DLT for a later retry'),
          attempts: 0,
        };
      }
      return slot.run(() => opts.handle({ event, subscriptionId, tenantId }));
    };
    const outcome = sub?.ordered ? await ordered.run(`${subscriptionId}:${tenantId}`, run) : await run();
    if (outcome.type === 'deadLetter') {
      await toDlt(
        topic,
        partition,
        message,
        outcome.failure,
        outcome.attempts,
        outcome.lastStatus,
        outcome.firstAttemptAt,
        outcome.lastAttemptAt,
      );
      metrics.outcomes.inc({ outcome: 'deadLetter', status_class: statusClass(outcome.lastStatus) });
    } else if (outcome.type === 'delivered') {
      metrics.outcomes.inc({ outcome: 'delivered', status_class: statusClass(outcome.status) });
      const eventTime = event.time ? Date.parse(event.time) : Number.NaN;
      if (!Number.isNaN(eventTime)) metrics.latencyFromEvent.observe(Math.max(0, Date.now() - eventTime) / 1000);
    } else {
      metrics.outcomes.inc({ outcome: 'skipped', status_class: 'none' });
    }
    metrics.latencyFromDequeue.observe((performance.now() - dequeuedAt) / 1000);
  };

  const dispatch = (topic: string, partition: number, message: KafkaMessage) => {
    tracker.begin(topic, partition, message.offset);
    metrics.inFlight.inc();
    const p = processRecord(topic, partition, message)
      .then(
        () => tracker.complete(topic, partition, message.offset),
        (err) => {
          // Only a failed DLT produce lands here: leave the offset uncommitted so the record is redelivered.
          log.error(
            { topic, partition, offset: message.offset, err: errorMessage(err) },
            'record not finished; it will be redelivered',
          );
        },
      )
      .finally(() => {
        metrics.inFlight.dec();
        inFlight.release();
        pending.delete(p);
      });
    pending.add(p);
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        // Back-pressure: wait for a free slot, heartbeating so the group does not evict us meanwhile.
        let acquired = false;
        const slot = inFlight.acquire().then(() => {
          acquired = true;
        });
        while (!acquired) {
          await Promise.race([slot, new Promise((r) => setTimeout(r, 1000))]);
          if (!acquired) await heartbeat();
        }
        dispatch(batch.topic, batch.partition, message);
        // "Resolved" here only moves kafkajs's fetch position; commits come from the tracker.
        resolveOffset(message.offset);
      }
      await heartbeat();
    },
  });

  return {
    inFlight: () => pending.size,
    async stop(graceMs: number) {
      await consumer.stop();
      const deadline = Date.now() + graceMs;
      while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      clearInterval(commitTimer);
      committing = false;
      await commit();
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
