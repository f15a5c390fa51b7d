/**
 * Tracks records that complete out of order and tells which offset may be committed:
 * the offset after the highest record such that it and every record before it (in its partition) is done.
 * Pure: the Kafka adapter feeds it and commits what it says.
 */
export class OffsetTracker {
  /** key `topic:partition` -> offsets in flight (as bigint), in arrival order */
  private readonly inFlight = new Map<string, bigint[]>();
  private readonly done = new Map<string, Set<bigint>>();
  /** highest offset fetched per partition, to commit when nothing is in flight */
  private readonly committable = new Map<string, bigint>();

  private static key(topic: string, partition: number): string {
    return `${topic}:${partition}`;
  }

  /** Registers a fetched record before work on it starts. Offsets must arrive in increasing order per partition. */
  begin(topic: string, partition: number, offset: string): void {
    const k = OffsetTracker.key(topic, partition);
    let list = this.inFlight.get(k);
    if (!list) {
      list = [];
      this.inFlight.set(k, list);
      this.done.set(k, new Set());
    }
    list.push(BigInt(offset));
  }

  /** Marks a record finished (its side effect is durable). */
  complete(topic: string, partition: number, offset: string): void {
    const k = OffsetTracker.key(topic, partition);
    const list = this.inFlight.get(k);
    const done = this.done.get(k);
    if (!list || !done) return;
    done.add(BigInt(offset));
    // Advance over the contiguous finished prefix.
    let advanced: bigint | undefined;
    while (list.length > 0 && done.has(list[0]!)) {
      advanced = list.shift()!;
      done.delete(advanced);
    }
    if (advanced !== undefined) this.committable.set(k, advanced + 1n);
  }

  /** Offsets to commit now (Kafka commits "next offset to read"); each is returned once. */
  drainCommittable(): { topic: string; partition: number; offset: string }[] {
    const out: { topic: string; partition: number; offset: string }[] = [];
    for (const [k, next] of this.committable) {
      const idx = k.lastIndexOf(':');
      out.push({ topic: k.slice(0, idx), partition: Number(k.slice(idx + 1)), offset: next.toString() });
    }
    this.committable.clear();
    return out;
  }

  pending(topic?: string, partition?: number): number {
    if (topic !== undefined && partition !== undefined)
      return this.inFlight.get(OffsetTracker.key(topic, partition))?.length ?? 0;
    let n = 0;
    for (const l of this.inFlight.values()) n += l.length;
    return n;
  }

  /** Forget partitions that were revoked in a rebalance (their records will be redelivered elsewhere). */
  forget(topic: string, partition: number): void {
    const k = OffsetTracker.key(topic, partition);
    this.inFlight.delete(k);
    this.done.delete(k);
    this.committable.delete(k);
  }
}
