/**
 * Runs `fn` until it succeeds, backing off (200 ms doubling to 5 s) and logging each failure — for a side effect the
 * offset cannot advance without (a DLT produce, a ledger record, a lane park). While `stopping()` holds, a failure
 * is thrown instead: the record stays uncommitted and the partition's next owner handles it.
 */
import { errorMessage } from '../errors';
import type { Logger } from '../logging/logger';

export async function keepTrying<T>(
  what: string,
  fn: () => Promise<T>,
  opts: {
    log: Logger;
    stopping: () => boolean;
    context?: Record<string, unknown>;
    /** Errors trying again cannot help (thrown at once). */
    hopeless?: (err: unknown) => boolean;
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (opts.stopping() || opts.hopeless?.(err)) throw err;
      opts.log.error({ ...opts.context, attempt, err: errorMessage(err) }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
    }
  }
}
