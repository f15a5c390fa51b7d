/**
 * kafkajs 2.2.4 has no "partitions revoked" callback: when its runner finds a rebalance itself (a heartbeat or a
 * fetch between batches answers REBALANCE_IN_PROGRESS), it emits REBALANCING and re-joins the group at once. A
 * consumer that delivers records asynchronously after `eachBatch` returned (the outbox-processor) then re-joins with
 * deliveries still in flight: what finishes after the join belongs to the old generation, cannot be committed, and
 * the partition's next owner delivers it again (measured: 16 and 27 duplicates in 1 of 5 runs of
 * test/outbox-processor/rebalance.int.test.ts, where a second instance joins mid-stream).
 *
 * This lets a consumer hold its own re-join: `holdRejoin(memberId, hold)` registers a function that the group's
 * `joinAndSync` awaits first (the consumer runner's drain: in-flight records finish and are committed, bounded by
 * REBALANCE_DRAIN_MS). Keyed by the member id the coordinator gave this consumer, so another consumer of the same
 * process, or a member that lost its id (UNKNOWN_MEMBER_ID resets it), is never held. Applied once, at load, to
 * kafkajs's own ConsumerGroup class; a kafkajs without that method is left alone.
 */
import { patchKafkajsMethod } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type ConsumerGroup = any;

const holds = new Map<string, () => Promise<void> | undefined>();

/** Until the returned function is called, the member `memberId` awaits `hold()` (if it returns a promise) before
 * every re-join. */
export function holdRejoin(memberId: string, hold: () => Promise<void> | undefined): () => void {
  holds.set(memberId, hold);
  return () => {
    if (holds.get(memberId) === hold) holds.delete(memberId);
  };
}

export function applyKafkajsRejoinHold(): boolean {
  return patchKafkajsMethod(
    'kafkajs/src/consumer/consumerGroup',
    'joinAndSync',
    (original) =>
      async function joinAndSync(this: ConsumerGroup, ...args: unknown[]): Promise<unknown> {
        const pending = this.memberId ? holds.get(this.memberId)?.() : undefined;
        if (pending) await pending.catch(() => {});
        return original.apply(this, args);
      },
  );
}

applyKafkajsRejoinHold();
