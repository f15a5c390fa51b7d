/**
 * What a scheduled redelivery attempt means for the stored failure (pure).
 *
 *   PENDING ─claim─▶ RETRYING ─ delivered ───────────────────────────────▶ DELIVERED
 *                              ├ permanent failure ─────────────────────▶ FAILED
 *                              ├ retriable, attempts left ──────────────▶ RETRYING (next attempt after backoff)
 *                              └ retriable, attempts exhausted ─────────▶ FAILED
 *   FAILED / PENDING / RETRYING ─operator replay─ delivered ────────────▶ REPLAYED
 *
 * Backoff between scheduled attempts: base * 2^(n-1), capped, or the subscriber's Retry-After.
 */
import type { DeliveryResult } from '../shared/delivery/deliver';

export type FailureStatus = 'PENDING' | 'RETRYING' | 'DELIVERED' | 'FAILED' | 'REPLAYED';

export interface Decision {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  reason: string | null;
}

export function decideAfterAttempt(
  result: DeliveryResult,
  scheduledAttempts: number,
  opts: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number; now: Date; replay: boolean },
): Decision {
  if (result.outcome === 'delivered')
    return { status: opts.replay ? 'REPLAYED' : 'DELIVERED', nextAttemptAt: null, reason: null };
  const failure = result.failure!;
  if (opts.replay) return { status: 'FAILED', nextAttemptAt: null, reason: `replay failed: ${failure.code}` };
  if (failure.kind === 'permanent')
    return { status: 'FAILED', nextAttemptAt: null, reason: `permanent failure ${failure.code}: ${failure.message}` };
  if (scheduledAttempts >= opts.maxAttempts)
    return {
      status: 'FAILED',
      nextAttemptAt: null,
      reason: `retries exhausted after ${scheduledAttempts} scheduled attempts (last ${failure.code})`,
    };
  const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (scheduledAttempts - 1));
  const delay = failure.retryAfterMs !== undefined ? Math.min(failure.retryAfterMs, opts.maxDelayMs) : backoff;
  return { status: 'RETRYING', nextAttemptAt: new Date(opts.now.getTime() + delay), reason: null };
}
