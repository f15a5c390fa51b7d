/**
 * Retry schedule for deliveries: exponential backoff with full jitter, bounded per delay and in total.
 *
 * | attempt failed | delay before next (base 500 ms, cap 30 s)       |
 * |----------------|-------------------------------------------------|
 * | 1              | random(0, 500 ms)                               |
 * | 2              | random(0, 1 s)                                  |
 * | 3              | random(0, 2 s)  (default maxAttempts = 3: DLT)  |
 * | n              | random(0, min(cap, base * 2^(n-1)))             |
 *
 * A Retry-After from the subscriber replaces the jittered delay (capped at `maxDelayMs`). Once the next attempt
 * would start after `maxTotalMs` since the first, the record goes to the dead-letter topic instead.
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
  maxDelayMs: 30_000,
  maxTotalMs: 60_000,
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
  const delay = retryAfterMs !== undefined ? Math.min(retryAfterMs, policy.maxDelayMs) : Math.floor(random() * ceiling);
  if (elapsedMs + delay > policy.maxTotalMs) return undefined;
  return delay;
}
