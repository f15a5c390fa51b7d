/**
 * The outbox-processor's in-process retries: a few quick attempts, exponential backoff with full jitter, bounded
 * per delay and in total (seconds, not minutes: a sick endpoint must not hold a consumer slot). What needs longer
 * is parked in the durable retry schedule (retry-schedule.ts) and retried by the dlt-processor.
 *
 * | attempt failed | delay before next (base 500 ms, cap 2 s)        |
 * |----------------|-------------------------------------------------|
 * | 1              | random(0, 500 ms)                               |
 * | 2              | random(0, 1 s)                                  |
 * | 3              | parked (default maxAttempts = 3)                |
 * | n              | random(0, min(cap, base * 2^(n-1)))             |
 *
 * A Retry-After from the subscriber replaces the jittered delay; one longer than `maxDelayMs` parks the delivery at
 * once (the durable schedule honours it). Once the next attempt would start after `maxTotalMs` since the first,
 * the delivery is parked too.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxTotalMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 500,
  maxDelayMs: 2_000,
  maxTotalMs: 5_000,
};

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1), or undefined to stop. */
export function nextDelay(
  policy: RetryPolicy,
  attempt: number,
  elapsedMs: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxDelayMs) return undefined;
  const delay = retryAfterMs ?? Math.floor(random() * ceiling);
  if (elapsedMs + delay > policy.maxTotalMs) return undefined;
  return delay;
}
