/**
 * Batched delivery for subscriptions that opt in (`batch: { maxEvents, maxWaitMs }`): the attempts of several
 * records go out as ONE signed POST of `application/cloudevents-batch+json` (deliverBatch, build-request.ts).
 *
 *   handler attempt ─ deliver(event, sub) ─▶ the subscription's open batch
 *        │                                        ├ full (maxEvents, or MAX_BATCH_BYTES of events) ─▶ sent now
 *        │                                        └ else sent maxWaitMs after its first event (or at flush())
 *        └─ resolves with the batch's one result, for every event in it
 *
 * Semantics (README "Batched delivery"):
 * - Every record keeps its own life: its own attempt count, in-process retries (a retry joins whatever batch is open
 *   then), dead letter, durable retries and ledger rows. A batch is delivered or failed as a whole, so each of its
 *   events records the same status, duration and answer; the delivery log has one attempt row per event.
 * - `webhook-id` is the event id for a batch of one, else `batch_<digest of the ids>`; subscribers deduplicate by
 *   each CloudEvent's `id`, which never changes.
 * - Scheduled retries and replays (dlt-processor) send each event alone, still as a batch (of one).
 * - A batch's result counts once towards its endpoint's breaker (`leader`), not once per event.
 *
 * No per-record timer: one timer per open batch. flush() sends every open batch at once (stop, rebalance drain), so
 * no record waits out maxWaitMs while its partition is being given up.
 */
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { errorMessage, retriable } from '../shared/errors';
import { batchOf, type SubscriptionSnapshot } from '../shared/subscriptions/snapshot';

/** Event bytes per batch at most (the events' data; the envelope adds a little), whatever `maxEvents` says. */
export const MAX_BATCH_BYTES = 1024 * 1024;

export interface BatcherOptions {
  /** Sends one batch (deliverBatch through the endpoint's gate). Never throws (deliverBatch returns failures). */
  send: (events: HubCloudEvent[], sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  /** True from the stop on: every batch is sent at once, none waits for more events. */
  closing?: () => boolean;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface OpenBatch {
  /** The newest snapshot seen for the subscription: the batch goes where the subscription points when it is sent. */
  sub: SubscriptionSnapshot;
  events: HubCloudEvent[];
  bytes: number;
  waiters: ((r: DeliveryResult) => void)[];
  timer?: unknown;
}

export interface Batcher {
  /** One attempt of one event of a batched subscription: resolves with the result of the batch it went in. */
  deliver(event: HubCloudEvent, sub: SubscriptionSnapshot): Promise<DeliveryResult>;
  /** Sends every open batch now. */
  flush(): void;
  /** Events waiting in open batches (tests, metrics). */
  waiting(): number;
}

export function createBatcher(opts: BatcherOptions): Batcher {
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  const open = new Map<string, OpenBatch>();
  let waiting = 0;

  const send = (id: string) => {
    const b = open.get(id);
    if (!b) return;
    open.delete(id);
    if (b.timer !== undefined) clearTimer(b.timer);
    waiting -= b.events.length;
    const size = b.events.length;
    const settle = (r: DeliveryResult) => {
      b.waiters.forEach((resolve, i) => {
        resolve({ ...r, batch: { size, leader: i === 0 } });
      });
    };
    opts.send(b.events, b.sub).then(settle, (err: unknown) =>
      // send never throws; if it does (a bug), every event of the batch fails retriably rather than hanging.
      settle({
        outcome: 'failed',
        failure: retriable('DELIVERY.INTERNAL', errorMessage(err)),
        durationMs: 0,
        responseSnippet: '',
      }),
    );
  };

  return {
    deliver(event, sub) {
      const cfg = batchOf(sub) ?? { maxEvents: 1, maxWaitMs: 0 };
      const bytes = event.data.length + 256;
      let b = open.get(sub.id);
      // Over the byte bound with this event: what is open goes first, this one starts the next batch.
      if (b && b.bytes + bytes > MAX_BATCH_BYTES) {
        send(sub.id);
        b = undefined;
      }
      const result = new Promise<DeliveryResult>((resolve) => {
        if (!b) {
          b = { sub, events: [], bytes: 0, waiters: [] };
          open.set(sub.id, b);
        }
        b.sub = sub;
        b.events.push(event);
        b.bytes += bytes;
        b.waiters.push(resolve);
        waiting++;
      });
      const batch = b!;
      if (batch.events.length >= cfg.maxEvents || opts.closing?.()) send(sub.id);
      else if (batch.timer === undefined) batch.timer = setTimer(() => send(sub.id), cfg.maxWaitMs);
      return result;
    },
    flush() {
      for (const id of [...open.keys()]) send(id);
    },
    waiting: () => waiting,
  };
}
