/**
 * The one consumer runner every Kafka consumer of the hub uses (ingest, outbox, DLT, ledger, directory, stream).
 *
 *   runConsumer(opts) ─ connect, subscribe, consumer.run(eachBatch) ─▶ opts.handle(batch, ctx)   (one partition's batch)
 *        │                                                                  ctx.live()       keep going?
 *        │                                                                  ctx.heartbeat()  a rebalance found here drains
 *        │                                                                  ctx.acquire(s)   a slot, heartbeating while full
 *        │                                                                  ctx.commitBatch() resolve + commit the batch
 *        │                                                                  (the commits of one turn: one request)
 *        ├─ rebalance (found by a heartbeat, or kafkajs's REBALANCING) ─▶ revoke: abort the generation's signal,
 *        │        opts.onRevoke(deadline) (e.g. wait for in-flight work, flush commits), then let kafkajs re-join
 *        ├─ stop(graceMs) ─▶ pause fetching, abort waits, wait for running batches, opts.onStop(deadline), disconnect
 *        └─ a crash kafkajs will not restart ─▶ opts.onFatal (the service exits; its supervisor restarts it)
 *
 * What the callers had each hand-rolled (their own heartbeat, stop, pause and drain rules, with 10/25 ms polling
 * loops and a 1 s timer per record while a slot was taken) lives here once, with no polling: a wait for a slot is a
 * queued promise (a free slot is taken synchronously, the fast path), the drain waits on the slots coming back
 * (`Semaphore.whenIdle`), and stop waits on the running-batch counter reaching zero. The only timer is the heartbeat
 * while a batch is blocked, at the session's heartbeat interval, which kafkajs needs anyway.
 *
 * Why "drain before re-join": kafkajs's rebalance is eager (every member gives up every partition) and has no revoke
 * callback; it re-joins only after the running eachBatch calls return. So a batch that learns of a rebalance stops
 * starting work and returns only after the drain, and the partitions' next owner starts after what was finished here.
 * When kafkajs finds the rebalance itself with no batch running (work handed off asynchronously, as the outbox's
 * deliveries are), it would re-join at once: kafkajs-rejoin-hold.ts makes that re-join await the same drain.
 * (Models: Hookdeck Outpost's internal/consumer/consumer.go, bullmq's AsyncFifoQueue.)
 */
import { setMaxListeners } from 'node:events';
import type { Batch, Consumer } from 'kafkajs';
import type { Slots } from '../concurrency';
import { errorMessage } from '../errors';
import type { Logger } from '../logging/logger';
import { onPermanentCrash } from './crash';
import { holdRejoin } from './kafkajs-rejoin-hold';

export interface BatchContext {
  /** Still this batch's to work on: not stopping, not revoked by a rebalance, the partition still assigned. */
  live(): boolean;
  /** Aborted when this generation's partitions are being given up (a rebalance) or the runner stops. */
  readonly revoked: AbortSignal;
  /** Moves kafkajs's fetch position (not the committed offset). */
  resolve(offset: string): void;
  /** Never throws: a rebalance found here starts the drain (and `live()` turns false). */
  heartbeat(): Promise<void>;
  /** Takes a slot: at once when one is free, else waits, heartbeating; false when the batch stopped being live. */
  acquire(slots: Slots): Promise<boolean>;
  /** Resolves every record of the batch and commits past its last (a failed commit only means a re-read). */
  commitBatch(): Promise<void>;
  /**
   * Commits the batch's partition up to `next` (the offset after the last record done) and resolves nothing: for
   * work that finishes after its batch returned, whose offsets the handler resolved itself so that kafkajs fetches
   * on meanwhile (the ledger writer). Commits of one turn go as one request; a failed commit only means a re-read.
   */
  commit(next: string): Promise<void>;
}

export interface ConsumerRunnerOptions {
  consumer: Consumer;
  /** For logs: 'ingest', 'outbox', 'dlt', … */
  name: string;
  log: Logger;
  topics: string[];
  fromBeginning?: boolean;
  /** Partitions handled at once (kafkajs's partitionsConsumedConcurrently); default 1. */
  concurrency?: number;
  /** kafkajs resolves each batch's offsets itself when the handler returns (readers that never commit). */
  autoResolve?: boolean;
  /** Heartbeat interval while a batch waits for a slot; the consumer's heartbeatInterval. Default 3000 ms. */
  heartbeatMs?: number;
  /** How long a rebalance may wait for `onRevoke` before this instance re-joins. Default 5000 ms. */
  rebalanceDrainMs?: number;
  handle(batch: Batch, ctx: BatchContext): Promise<void>;
  /** Partitions are being given up: finish or account for in-flight work (by `deadline`, epoch ms). */
  onRevoke?(deadline: number): Promise<void>;
  /** After the running batches returned at stop, before leaving the group (commits are still accepted). */
  onStop?(deadline: number): Promise<void>;
  /** The consumer stopped for good (kafkajs will not restart it). */
  onFatal?: (err: Error) => void;
}

export interface ConsumerRunner {
  readonly consumer: Consumer;
  /** eachBatch calls running now. */
  batchesRunning(): number;
  /** A rebalance is draining: nothing new starts until the group is joined again. */
  revoking(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/** Counts running batches; `whenZero` resolves when none is left (or false at the deadline). */
class Counter {
  private n = 0;
  private waiters: (() => void)[] = [];
  get value() {
    return this.n;
  }
  inc() {
    this.n++;
  }
  dec() {
    if (--this.n === 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
  }
  whenZero(deadline: number): Promise<boolean> {
    if (this.n === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve(false);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.waiters.push(done);
    });
  }
}

/**
 * Errors of a heartbeat that mean this member's partitions are no longer (or soon not) its own: a rebalance (what
 * kafkajs's own `isRebalancing` matches) or a membership the coordinator no longer knows. The batch must stop: an
 * ingest transaction's offset commit carries no generation (kafkajs sends TxnOffsetCommit v0/v1), so nothing else
 * would stop it committing a partition that has moved on.
 */
const PARTITIONS_GOING = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);
function isRebalance(err: unknown): boolean {
  return PARTITIONS_GOING.has((err as { type?: string } | undefined)?.type ?? '');
}

export async function runConsumer(opts: ConsumerRunnerOptions): Promise<ConsumerRunner> {
  const { consumer, log } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 3_000;
  const running = new Counter();
  let stopping = false;
  /**
   * This generation's: aborted by a rebalance's drain and by stop (a new one per group join). Every batch waiting in
   * `acquire` listens on it, dozens at once in the ledger writer: no listener limit (Node warns past ten, on stderr;
   * Infinity rather than 0, which Node 20's `getMaxListeners` cannot read back).
   */
  const generationCtl = () => {
    const ctl = new AbortController();
    setMaxListeners(Number.POSITIVE_INFINITY, ctl.signal);
    return ctl;
  };
  let revokeCtl = generationCtl();
  let draining: Promise<void> | undefined;

  onPermanentCrash(consumer, log, opts.name, opts.onFatal);

  const drain = (): Promise<void> => {
    draining ??= (async () => {
      revokeCtl.abort();
      const deadline = Date.now() + (opts.rebalanceDrainMs ?? 5_000);
      // The re-join waits for this (the member sends no heartbeat meanwhile): never past the deadline, even when
      // onRevoke overruns it (a commit retried against a moved coordinator); what it has not finished is read again.
      let overran: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          opts.onRevoke?.(deadline),
          new Promise<void>((resolve) => {
            overran = setTimeout(
              () => {
                log.warn(`${opts.name}: drain before the rebalance overran its deadline; re-joining without it`);
                resolve();
              },
              Math.max(0, deadline - Date.now()) + 1_000,
            );
          }),
        ]);
      } catch (err) {
        log.warn(
          { err: errorMessage(err) },
          `${opts.name}: drain before the rebalance failed; its records are read again`,
        );
      } finally {
        clearTimeout(overran);
      }
    })();
    return draining;
  };
  let releaseHold: (() => void) | undefined;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    draining = undefined;
    revokeCtl = generationCtl();
    releaseHold?.();
    releaseHold = undefined;
    if (stopping) {
      revokeCtl.abort();
      return;
    }
    // Every later join of this member is a re-join (a rebalance, or kafkajs re-joining after a partition's leader
    // moved): it waits for the drain, started here if nothing started it yet (kafkajs-rejoin-hold.ts).
    releaseHold = holdRejoin(e.payload.memberId, () => draining ?? drain());
  });
  // kafkajs found the rebalance itself (a heartbeat or a fetch between batches): it re-joins next, and the hold
  // above makes that wait for this drain, as a batch that found it waits (see eachBatch below).
  consumer.on(consumer.events.REBALANCING, () => void drain());

  // Commits asked for in the same turn of the event loop go to the broker as ONE OffsetCommit request: the batches of
  // one fetch finish together (a writer's shared transaction), and each partition's own request was one write to
  // __consumer_offsets apiece.
  let commits = new Map<string, { topic: string; partition: number; offset: string }>();
  let committing: Promise<void> | undefined;
  const commitSoon = async (o: { topic: string; partition: number; offset: string }): Promise<void> => {
    const key = `${o.topic}\u0000${o.partition}`;
    const prior = commits.get(key);
    if (prior === undefined || BigInt(prior.offset) < BigInt(o.offset)) commits.set(key, o);
    committing ??= new Promise<void>((r) => setImmediate(r)).then(() => {
      const offsets = [...commits.values()];
      commits = new Map();
      committing = undefined;
      return consumer.commitOffsets(offsets);
    });
    try {
      await committing;
    } catch {
      // kafkajs fails the whole request for one partition's error: each caller tries its own on its own, so a bad
      // partition fails only its own commit.
      await consumer.commitOffsets([o]);
    }
  };

  const context = (
    batch: Batch,
    p: { resolveOffset(o: string): void; heartbeat(): Promise<void>; isRunning(): boolean; isStale(): boolean },
  ): BatchContext => {
    const revoked = revokeCtl.signal;
    const live = () => !revoked.aborted && p.isRunning() && !p.isStale();
    const heartbeat = async () => {
      try {
        await p.heartbeat();
      } catch (err) {
        if (isRebalance(err)) await drain();
        else log.debug({ err: errorMessage(err), topic: batch.topic, partition: batch.partition }, 'heartbeat failed');
      }
    };
    const commit = async (next: string) => {
      try {
        await commitSoon({ topic: batch.topic, partition: batch.partition, offset: next });
      } catch (err) {
        // What the batch did is done; an uncommitted offset only means its records are read (and handled) again.
        log.warn({ err: errorMessage(err), topic: batch.topic, partition: batch.partition }, 'offset commit failed');
      }
    };
    return {
      live,
      revoked,
      resolve: (o) => p.resolveOffset(o),
      heartbeat,
      async acquire(slots) {
        if (slots.tryAcquire()) return true;
        if (!live()) return false;
        const give = new AbortController();
        const stopWaiting = () => give.abort();
        revoked.addEventListener('abort', stopWaiting, { once: true });
        // While the slots are taken, the session must stay alive. kafkajs sends a heartbeat only when its interval
        // has passed since the last one answered, so ticking at the interval itself would skip every other tick.
        const beat = setInterval(
          () => {
            void heartbeat().then(() => {
              if (!live()) give.abort();
            });
          },
          Math.max(100, Math.floor(heartbeatMs / 2)),
        );
        try {
          return await slots.acquireUnless(give.signal);
        } finally {
          clearInterval(beat);
          revoked.removeEventListener('abort', stopWaiting);
        }
      },
      async commitBatch() {
        for (const m of batch.messages) p.resolveOffset(m.offset);
        await commit((BigInt(batch.lastOffset()) + 1n).toString());
      },
      commit,
    };
  };

  await consumer.connect();
  await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: opts.autoResolve ?? false,
    partitionsConsumedConcurrently: opts.concurrency ?? 1,
    eachBatch: async (payload) => {
      running.inc();
      try {
        const ctx = context(payload.batch, payload);
        // Not live: leave the batch unresolved (read again by whoever owns the partition next). With auto-resolve
        // kafkajs would mark it read all the same, so such readers see every batch and check live() themselves.
        if (!ctx.live() && !opts.autoResolve) return;
        await opts.handle(payload.batch, ctx);
        // Another batch's heartbeat found the rebalance: return only after the drain, so kafkajs re-joins after it.
        await draining;
      } finally {
        running.dec();
      }
    },
  });

  let stopped: Promise<void> | undefined;
  return {
    consumer,
    batchesRunning: () => running.value,
    revoking: () => draining !== undefined,
    stop(graceMs = 30_000) {
      stopped ??= (async () => {
        const deadline = Date.now() + graceMs;
        // Stop fetching; the group stays joined so the final commits are accepted.
        consumer.pause(opts.topics.map((topic) => ({ topic })));
        stopping = true;
        revokeCtl.abort();
        if (!(await running.whenZero(deadline)))
          log.warn({ running: running.value }, `${opts.name}: grace period over with batches still running`);
        await opts.onStop?.(deadline);
        releaseHold?.();
        await consumer.disconnect(); // stops the runner and leaves the group
        releaseHold?.(); // a join that was under way when the stop began
      })();
      return stopped;
    },
  };
}
