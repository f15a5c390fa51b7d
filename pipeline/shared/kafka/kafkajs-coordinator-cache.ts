/**
 * kafkajs 2.2.4 asks the broker for the coordinator before EVERY transactional request: a transaction of one event
 * made four FindCoordinator round trips besides AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit and
 * EndTxn (measured: 9 requests, ~15-19 ms per transaction on this machine; the latency budget's ep_transaction).
 *
 * This keeps each client's answer (the coordinator's node id per group id and coordinator type) for a short while
 * (COORDINATOR_TTL_MS), so a transaction asks once. A coordinator that moved answers NOT_COORDINATOR: kafkajs then
 * retries with its backoff, and the answer is asked again once the cached one expires (at most the TTL later), as
 * it is at once when the broker the cached id names is not known any more. Applied once, at load, to kafkajs's own
 * Cluster class; a kafkajs without that method is left alone.
 */
import { patchKafkajsMethod } from './kafkajs-patch';

// biome-ignore lint/suspicious/noExplicitAny: kafkajs's internal class has no types.
type Cluster = any;

export const COORDINATOR_TTL_MS = 1_000;

interface Cached {
  at: number;
  // biome-ignore lint/suspicious/noExplicitAny: kafkajs's FindCoordinator answer.
  metadata: any;
}

const CACHE = Symbol('hubCoordinatorCache');

export function applyKafkajsCoordinatorCache(now: () => number = Date.now): boolean {
  return patchKafkajsMethod(
    'kafkajs/src/cluster',
    'findGroupCoordinatorMetadata',
    (original) =>
      async function findGroupCoordinatorMetadata(this: Cluster, args: { groupId: string; coordinatorType?: number }) {
        this[CACHE] ??= new Map<string, Cached>();
        const cache: Map<string, Cached> = this[CACHE];
        const key = `${args.coordinatorType ?? 0}\u0000${args.groupId}`;
        const hit = cache.get(key);
        const t = now();
        if (hit && t - hit.at < COORDINATOR_TTL_MS && this.brokerPool?.brokers?.[hit.metadata?.coordinator?.nodeId])
          return hit.metadata;
        cache.delete(key);
        const metadata = await original.call(this, args);
        cache.set(key, { at: t, metadata });
        return metadata;
      },
  );
}

applyKafkajsCoordinatorCache();
