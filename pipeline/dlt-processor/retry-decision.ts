/**
 * What a scheduled redelivery attempt means for the parked delivery (pure).
 *
 *   PENDING ─claim─▶ RETRYING ─ delivered ───────────────────────────────▶ DELIVERED
 *      ▲                       ├ permanent failure ─────────────────────▶ FAILED
 *      │                       ├ retriable, schedule not exhausted ─────▶ RETRYING (next step of the schedule)
 *      │                       └ retriable, schedule exhausted ─────────▶ FAILED (subscription flagged)
 *   HELD (paused) ─resume─┘    gate: paused ─▶ HELD · deleted / other tenant / blocked endpoint ─▶ SKIPPED
 *   FAILED / PENDING / RETRYING / HELD / SKIPPED ─operator replay─ delivered ─▶ REPLAYED
 *
 * The delays are the subscription's retry schedule (retry-schedule.ts), or the subscriber's Retry-After, capped.
 * The scheduler interval adds up to one tick on top.
 */
import type { DeliveryResult } from '../shared/delivery/deliver';
import { scheduledDelay } from '../shared/delivery/retry-schedule';
import type { FailureStatus } from '../shared/parked/failure-store';

export type { FailureStatus };

export interface Decision {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  reason: string | null;
  /** The schedule ran out: the subscription is flagged. */
  exhausted?: boolean;
}

export function decideAfterAttempt(
  result: DeliveryResult,
  scheduledAttempts: number,
  opts: {
    schedule: readonly number[];
    retryAfterCapMs: number;
    now: Date;
    replay: boolean;
  },
): Decision {
  if (result.outcome === 'delivered')
    return { status: opts.replay ? 'REPLAYED' : 'DELIVERED', nextAttemptAt: null, reason: null };
  const failure = result.failure!;
  if (opts.replay) return { status: 'FAILED', nextAttemptAt: null, reason: `replay failed: ${failure.code}` };
  if (failure.kind === 'permanent')
    return { status: 'FAILED', nextAttemptAt: null, reason: `permanent failure ${failure.code}: ${failure.message}` };
  const delay = scheduledDelay(opts.schedule, scheduledAttempts, failure.retryAfterMs, opts.retryAfterCapMs);
  if (delay === undefined)
    return {
      status: 'FAILED',
      nextAttemptAt: null,
      exhausted: true,
      reason: `retry schedule exhausted after ${scheduledAttempts} scheduled attempts (last ${failure.code}); replay it once the endpoint is fixed`,
    };
  return { status: 'RETRYING', nextAttemptAt: new Date(opts.now.getTime() + delay), reason: null };
}
