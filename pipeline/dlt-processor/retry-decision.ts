/**
 * What a scheduled redelivery attempt means for the stored failure (pure).
 *
 *   PENDING ─claim─▶ RETRYING ─ delivered ───────────────────────────────▶ DELIVERED
 *                              ├ permanent failure ─────────────────────▶ FAILED
 *                              ├ retriable, attempts left ──────────────▶ RETRYING (next attempt after backoff)
 *                              └ retriable, attempts exhausted ─────────▶ FAILED
 *   FAILED / PENDING / RETRYING ─operator replay─ delivered ────────────▶ REPLAYED
 *
 * Backoff between scheduled attempts: the shared delivery retry policy (exponential with full jitter,
 * random(0, min(max, base * 2^(n-1)))) or the subscriber's Retry-After, capped. The scheduler interval adds up to
 * one tick on top, so a zero jitter never means a tight loop.
 */
import type { DeliveryResult } from '../shared/delivery/deliver';
import { nextDelay } from '../shared/delivery/retry-policy';

export type FailureStatus = 'PENDING' | 'RETRYING' | 'DELIVERED' | 'FAILED' | 'REPLAYED';

export interface Decision {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  reason: string | null;
}

export function decideAfterAttempt(
  result: DeliveryResult,
  scheduledAttempts: number,
  opts: {
    maxAttempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
    now: Date;
    replay: boolean;
    random?: () => number;
  },
): Decision {
  if (result.outcome === 'delivered')
    return { status: opts.replay ? 'REPLAYED' : 'DELIVERED', nextAttemptAt: null, reason: null };
  const failure = result.failure!;
  if (opts.replay) return { status: 'FAILED', nextAttemptAt: null, reason: `replay failed: ${failure.code}` };
  if (failure.kind === 'permanent')
    return { status: 'FAILED', nextAttemptAt: null, reason: `permanent failure ${failure.code}: ${failure.message}` };
  const delay = nextDelay(
    {
      maxAttempts: opts.maxAttempts,
      baseDelayMs: opts.baseDelayMs,
      maxDelayMs: opts.maxDelayMs,
      maxTotalMs: Number.POSITIVE_INFINITY,
    },
    scheduledAttempts,
    0,
    failure.retryAfterMs,
    opts.random,
  );
  if (delay === undefined)
    return {
      status: 'FAILED',
      nextAttemptAt: null,
      reason: `retries exhausted after ${scheduledAttempts} scheduled attempts (last ${failure.code})`,
    };
  return { status: 'RETRYING', nextAttemptAt: new Date(opts.now.getTime() + delay), reason: null };
}
