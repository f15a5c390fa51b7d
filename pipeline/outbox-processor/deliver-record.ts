/**
 * Stage 3, deliver: fast paths first, else the delivery handler in one of the endpoint's slots.
 *
 *   breaker open ─────────────────────────────────────▶ deadLetter DELIVERY.CIRCUIT_OPEN (retried from the DLT)
 *   endpoint stalled and its queue full (endpoint-gate.ts) ─▶ deadLetter DELIVERY.ENDPOINT_SATURATED
 *   else wait for a slot of the endpoint's origin ─▶ still wanted? ─ no ─▶ ABANDONED (the next owner delivers it)
 *                                                                   └ yes ─▶ handler (attempts, short retries)
 *   a batched subscription (batch.ts): no slot per record; its records wait in their batch, and each batch's
 *   request takes one slot of the same gate (main.ts), so the endpoint's cap counts requests either way
 */
import { originOf } from '../shared/delivery/origin';
import { retriable } from '../shared/errors';
import { batchOf, type SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import { EndpointGate } from './endpoint-gate';
import type { DeliveryOutcome, OutboxItem } from './handler';

/** A record left alone: not delivered, not completed; its partition's next owner delivers it. */
export const ABANDONED = Symbol('abandoned');

export interface DeliverStageOptions {
  handle: (item: OutboxItem) => Promise<DeliveryOutcome>;
  /** Whether the endpoint's circuit is open now: its records go to the DLT without waiting for a slot. */
  breakerOpen?: (endpointUrl: string) => boolean;
  perEndpointConcurrency: number;
  /** Records waiting for a stalled endpoint beyond this are shed to the DLT. */
  perEndpointQueue: number;
  /** The partition's in-flight bound: an endpoint's queue takes at most half of it. */
  maxInFlightPerPartition: number;
  endpointStallMs?: number;
  now?: () => number;
  /** The endpoints' gates, when shared with the batcher (main.ts); else the stage makes its own. */
  gates?: EndpointGates;
}

/** One gate per endpoint origin. */
export interface EndpointGates {
  for(endpointUrl: string): EndpointGate;
}

export function createEndpointGates(
  opts: Pick<
    DeliverStageOptions,
    'perEndpointConcurrency' | 'perEndpointQueue' | 'maxInFlightPerPartition' | 'endpointStallMs' | 'now'
  >,
): EndpointGates {
  const gates = new Map<string, EndpointGate>();
  return {
    for(url) {
      const origin = originOf(url);
      let s = gates.get(origin);
      if (!s) {
        s = new EndpointGate({
          concurrency: opts.perEndpointConcurrency,
          // At most half of a partition's in-flight slots: a stalled endpoint starts shedding before its queue can
          // take every slot of a partition it shares with healthy subscriptions (head-of-line blocking).
          queueLimit: Math.min(opts.perEndpointQueue, Math.max(1, Math.floor(opts.maxInFlightPerPartition / 2))),
          stallMs: opts.endpointStallMs ?? 1000,
          now: opts.now,
        });
        gates.set(origin, s);
      }
      return s;
    },
  };
}

export type DeliverStage = (
  item: OutboxItem,
  sub: SubscriptionSnapshot,
  /** Asked once the slot is had: false when the record should be left to the partition's next owner. */
  stillWanted: () => boolean,
) => Promise<DeliveryOutcome | typeof ABANDONED>;

export function createDeliverStage(opts: DeliverStageOptions): DeliverStage {
  const gates = opts.gates ?? createEndpointGates(opts);
  const fast = (code: string, message: string): DeliveryOutcome => {
    const at = new Date();
    return {
      type: 'deadLetter',
      failure: retriable(code, message),
      attempts: 0,
      firstAttemptAt: at,
      lastAttemptAt: at,
    };
  };

  return async (item, sub, stillWanted) => {
    if (opts.breakerOpen?.(sub.endpointUrl))
      return fast('DELIVERY.CIRCUIT_OPEN', `circuit open for ${originOf(sub.endpointUrl)}`);
    const slot = gates.for(sub.endpointUrl);
    if (slot.shouldShed()) return fast('DELIVERY.ENDPOINT_SATURATED', 'endpoint queue full; retried from the DLT');
    if (batchOf(sub)) return stillWanted() ? opts.handle(item) : ABANDONED;
    return slot.run(
      async () => (stillWanted() ? opts.handle(item) : ABANDONED),
      (o) => o !== ABANDONED && o.type === 'delivered',
    );
  };
}
