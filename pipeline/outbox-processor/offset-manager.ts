/**
 * Offsets apart from dispatch (after knative eventing-kafka-broker's dispatcher `OffsetManager`).
 *
 *   dispatch ─ received(topic, partition, offset) ─▶ ticket (this generation)
 *   one terminal outcome per record ─ complete(ticket, outcome) ─▶ OffsetTracker: contiguous completed prefix
 *   timer (commitIntervalMs) / flush() / close() ─▶ commit what advanced; a failed commit is kept and tried again
 *   group (re)join ─ newGeneration() ─▶ forget every partition; tickets of the older generation complete nothing
 *
 * Records finish out of order; an offset is committed only when its record and every earlier record of its
 * partition reached a terminal outcome (delivered, durably in the DLT, skipped, held or parked). A record that never
 * completes holds its own partition's offset back, no other's. After a (re)join kafkajs fetches from the committed
 * offsets again: records still in flight from before finish (at-least-once) but no longer move the committed offset,
 * since the partition may now be someone else's.
 *
 * Dispatch code never touches offsets: it calls `received` when it takes a record and `complete` when the record's
 * side effect is durable. A record left for the partition's next owner (a rebalance) simply never completes here.
 */
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import { OffsetTracker } from '../shared/offsets/offset-tracker';

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (Kafka's commit convention). */
  offset: string;
}

/** Every way a record can finish here: each one lets its offset advance. */
export type TerminalOutcome = 'delivered' | 'deadLettered' | 'skipped' | 'held' | 'parked';

/** One received record, bound to the group generation it was fetched in. */
export interface OffsetTicket {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly generation: number;
}

export interface OffsetManagerOptions {
  /** Commits offsets (kafkajs `consumer.commitOffsets`); may reject (the offsets are tried again). */
  commit: (offsets: TopicPartitionOffset[]) => Promise<void>;
  /** How often what advanced is committed; 0 or less: only on flush/close (tests). */
  commitIntervalMs: number;
  log: Pick<Logger, 'warn'>;
}

export class OffsetManager {
  private tracker = new OffsetTracker();
  private generationNo = 0;
  /** Offsets whose commit failed, tried again with the next commit (unless a newer one or a re-join came first). */
  private retry = new Map<string, TopicPartitionOffset>();
  private committing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: OffsetManagerOptions) {
    if (opts.commitIntervalMs > 0) this.timer = setInterval(() => void this.commit(), opts.commitIntervalMs);
  }

  /** The current group generation (bumped by `newGeneration`). */
  get generation(): number {
    return this.generationNo;
  }

  /** Whether a ticket still belongs to the current generation (else its record is the next owner's to deliver). */
  isCurrent(ticket: Pick<OffsetTicket, 'generation'>): boolean {
    return ticket.generation === this.generationNo;
  }

  /** A record was taken for work. Offsets must arrive in increasing order per partition. */
  received(topic: string, partition: number, offset: string): OffsetTicket {
    this.tracker.begin(topic, partition, offset);
    return { topic, partition, offset, generation: this.generationNo };
  }

  /** The record reached a terminal outcome (its side effect is durable). Stale tickets are ignored. */
  complete(ticket: OffsetTicket, _outcome: TerminalOutcome): void {
    if (this.isCurrent(ticket)) this.tracker.complete(ticket.topic, ticket.partition, ticket.offset);
  }

  /** Records received and not completed in this generation (all partitions, or one). */
  pending(topic?: string, partition?: number): number {
    return this.tracker.pending(topic, partition);
  }

  /**
   * The group was (re)joined: every partition may have moved. Start tracking afresh; completions of records
   * received before are ignored, and offsets not yet committed from before are dropped (the new generation's
   * fetch starts from the committed ones).
   */
  newGeneration(): void {
    this.generationNo++;
    this.tracker = new OffsetTracker();
    this.retry.clear();
  }

  /** Commits what advanced (single flight: a call during a commit joins it). Never rejects. */
  commit(): Promise<void> {
    this.committing ??= this.commitOnce().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  /** Waits for a running commit, then commits everything completed until now. */
  async flush(): Promise<void> {
    await this.committing;
    await this.commit();
  }

  /** Stops the timer and commits what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async commitOnce(): Promise<void> {
    const generation = this.generationNo;
    const byKey = new Map(this.retry);
    this.retry.clear();
    for (const o of this.tracker.drainCommittable()) byKey.set(`${o.topic}:${o.partition}`, o);
    if (byKey.size === 0) return;
    const offsets = [...byKey.values()];
    try {
      await this.opts.commit(offsets);
    } catch (err) {
      // Kept for the next commit; dropped if the group was joined again meanwhile (the partitions may be gone).
      if (generation === this.generationNo) for (const [k, o] of byKey) if (!this.retry.has(k)) this.retry.set(k, o);
      this.opts.log.warn(
        { err: errorMessage(err), partitions: offsets.length },
        'offset commit failed; trying again with the next commit (records may be redelivered if the partitions move)',
      );
    }
  }
}
