/**
 * Group commit for a batch store: the writes asked for while one is running are merged into the next one, so that
 * partitions written in parallel share transactions instead of each paying for its own. A transaction's fixed cost
 * (BEGIN, three statements planned and executed, COMMIT, and the client's own work per statement) is what a small
 * batch pays most for: writing the same 20,000 deliveries in transactions of ~150 rows costs Postgres 0.07-0.09 ms of
 * CPU per delivery and the writer 0.10-0.12, in transactions of ~1,500 rows 0.05 and 0.08 (bench/ledger-store.ts,
 * BENCHMARKS.md 2026-12-02). The ledger writer's partition batches are mostly of the small kind.
 *
 *   write(A) ─ fewer than `parallel` calls running ─▶ written at once, alone (no wait is added)
 *            └ with `gatherMs`: held that long (or until `maxRecords` are queued) for the calls that arrive meanwhile
 *   write(B), write(C) while `parallel` calls run ─▶ queued; when one is done, B + C in one call (up to `maxRecords`)
 *   the merged call fails ─▶ B and C written again each on its own (unless `splitOnFailure: false`: both get
 *   the error), so that a refusal (one bad record) or a
 *   failure is answered to the caller whose records it concerns, exactly as without merging (any error: one that
 *   only looks like the database's, a timeout say, may still be one batch's doing; with the database away the
 *   callers learn it one after the other)
 *
 * Each caller's promise settles with the call that wrote its records. What a merged call answers (row counts) goes to
 * its first caller and `none` to the others, so sums over the callers stay right.
 */

interface Pending<R, C> {
  records: R[];
  resolve: (c: C) => void;
  reject: (err: unknown) => void;
}

export function coalesceWrites<R, C>(
  write: (records: R[]) => Promise<C>,
  opts: {
    /** Records one merged call takes at most (a single caller's batch is never split). */
    maxRecords: number;
    /** What the other callers of a merged call get. */
    none: C;
    /**
     * Calls running at once (default 1). With 2, one transaction is built and sent while another executes, and
     * Postgres works on two at once (its backends are processes: one core each).
     */
    parallel?: number;
    /**
     * How long a call that could be written at once waits for others to join it (default 0: not at all). The ledger
     * writer's partition batches of one fetch arrive within a few milliseconds of each other; written as they came,
     * the first two went alone and each fetch made several small transactions.
     */
    gatherMs?: number;
    /**
     * When a merged call fails, write each caller's records again on its own (default true: a refusal is answered to
     * the batch that caused it). False: every caller of the merged call gets its error (a failure that is never one
     * batch's, such as a produce to a broker that is away, would otherwise be waited out once per caller in turn).
     */
    splitOnFailure?: boolean;
  },
): (records: R[]) => Promise<C> {
  let queue: Pending<R, C>[] = [];
  let queued = 0;
  let running = 0;
  const parallel = Math.max(1, opts.parallel ?? 1);
  const gatherMs = opts.gatherMs ?? 0;
  let gathering: NodeJS.Timeout | undefined;

  const alone = async (p: Pending<R, C>) => {
    try {
      p.resolve(await write(p.records));
    } catch (err) {
      p.reject(err);
    }
  };

  /** The first queued callers whose records fit in `maxRecords` (at least one). */
  const nextGroup = (): Pending<R, C>[] => {
    let n = 0;
    let i = 0;
    while (i < queue.length && (i === 0 || n + queue[i]!.records.length <= opts.maxRecords)) {
      n += queue[i]!.records.length;
      i++;
    }
    const group = queue.slice(0, i);
    queue = queue.slice(i);
    queued -= n;
    return group;
  };

  const drain = async () => {
    running++;
    try {
      while (queue.length > 0) {
        const group = nextGroup();
        if (group.length === 1) {
          await alone(group[0]!);
          continue;
        }
        let counts: C;
        try {
          counts = await write(group.flatMap((p) => p.records));
        } catch (err) {
          if (opts.splitOnFailure === false) for (const p of group) p.reject(err);
          else for (const p of group) await alone(p);
          continue;
        }
        for (const [i, p] of group.entries()) p.resolve(i === 0 ? counts : opts.none);
      }
    } finally {
      running--;
    }
  };

  /** Starts as many calls as may run (each takes its group synchronously, before its first await). */
  const start = () => {
    clearTimeout(gathering);
    gathering = undefined;
    while (running < parallel && queue.length > 0) void drain();
  };

  return (records) =>
    new Promise<C>((resolve, reject) => {
      queue.push({ records, resolve, reject });
      queued += records.length;
      if (running >= parallel) return; // a running call takes the queue when it is done
      if (gatherMs <= 0 || queued >= opts.maxRecords) start();
      else gathering ??= setTimeout(start, gatherMs);
    });
}
