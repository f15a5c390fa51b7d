/**
 * The processors' view of the subscription registry: the ports (`SubscriptionLookup` for handlers,
 * `SubscriptionDirectory` for the owner that starts and stops it) and an in-memory fake. The Kafka-backed adapter,
 * materialised from the compacted changelog topic, is `directory.kafka.ts`.
 */
import type { SubscriptionSnapshot } from './snapshot';
import { type MatchableEvent, SubscriptionIndex } from './subscription-index';

/** Port: what handlers need from the registry. */
export interface SubscriptionLookup {
  get(id: string): SubscriptionSnapshot | undefined;
  match(event: MatchableEvent, opts?: { includePaused?: boolean }): SubscriptionSnapshot[];
}

export interface SubscriptionDirectory extends SubscriptionLookup {
  /** Resolves once caught up to the high watermark seen at start. */
  ready(): Promise<void>;
  isReady(): boolean;
  size(): number;
  /** Records applied since start (tests and metrics). */
  applied(): number;
  stop(): Promise<void>;
}

/** An in-memory directory for unit tests of handlers (same port as the Kafka-backed one). */
export function memoryDirectory(snapshots: SubscriptionSnapshot[] = []): SubscriptionLookup & {
  apply(id: string, s: SubscriptionSnapshot | null): void;
} {
  const index = new SubscriptionIndex();
  for (const s of snapshots) index.apply(s.id, s);
  return {
    get: (id) => index.get(id),
    match: (e, o) => index.match(e, o),
    apply: (id, s) => index.apply(id, s),
  };
}
