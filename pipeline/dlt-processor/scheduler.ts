/**
 * Redelivery of stored failures: the scheduled retry loop and the operator replays share one path.
 *
 *   every interval: claimDue (SKIP LOCKED) ─▶ subscription from the directory ─▶ deliverOnce (same webhook-id,
 *   fresh signature) ─▶ decideAfterAttempt ─▶ recordAttempt (attempt row + new status)
 */
import type { AuditSink } from '../shared/audit/audit';
import { fromKafkaBinary, type HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import type { FailureStore, StoredFailure } from './failure-store';
import { decideAfterAttempt, type FailureStatus } from './retry-decision';
import { safeSnippet } from './snippet';

export interface RedeliveryDeps {
  store: FailureStore;
  directory: SubscriptionLookup;
  deliver: (event: HubCloudEvent, sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  audit: AuditSink;
  log: Logger;
  instanceId: string;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  leaseMs: number;
  /** Called after every recorded attempt (metrics). */
  onAttempt?: (source: 'SCHEDULED' | 'REPLAY', outcome: FailureStatus) => void;
}

function decodeStored(f: StoredFailure) {
  const d = fromKafkaBinary(f.ceHeaders, f.body);
  return d.ok ? { event: d.event, reason: undefined } : { event: undefined, reason: d.reason };
}

export interface RedeliveryOutcome {
  status: FailureStatus;
  delivered: boolean;
  statusCode?: number;
  errorCode?: string;
  durationMs: number;
  reason: string | null;
}

/** One redelivery of one claimed row, recorded. */
export async function redeliver(deps: RedeliveryDeps, f: StoredFailure, replay: boolean): Promise<RedeliveryOutcome> {
  const source = replay ? 'REPLAY' : 'SCHEDULED';
  const { event, reason: undecodable } = decodeStored(f);
  const sub = deps.directory.get(f.subscriptionId);
  let result: DeliveryResult;
  if (!event) {
    result = {
      outcome: 'failed',
      failure: { kind: 'permanent', code: 'DLT.UNDECODABLE', message: undecodable ?? 'undecodable' },
      durationMs: 0,
    };
  } else if (!sub) {
    result = {
      outcome: 'failed',
      failure: { kind: 'permanent', code: 'DLT.SUBSCRIPTION_GONE', message: 'subscription unknown or deleted' },
      durationMs: 0,
    };
  } else if (sub.status !== 'ACTIVE' && !replay) {
    result = {
      outcome: 'failed',
      failure: {
        kind: 'permanent',
        code: 'DLT.SUBSCRIPTION_PAUSED',
        message: 'subscription paused; replay it when resumed',
      },
      durationMs: 0,
    };
  } else {
    try {
      result = await deps.deliver(event, sub);
    } catch (err) {
      result = {
        outcome: 'failed',
        failure: { kind: 'retriable', code: 'DELIVERY.INTERNAL', message: errorMessage(err) },
        durationMs: 0,
      };
    }
  }
  const scheduledSoFar = f.attempts + (replay ? 0 : 1);
  const decision = decideAfterAttempt(result, replay ? f.attempts : scheduledSoFar, {
    maxAttempts: deps.maxAttempts,
    baseDelayMs: deps.baseDelayMs,
    maxDelayMs: deps.maxDelayMs,
    now: new Date(),
    replay,
  });
  // A failed replay leaves a row that was still being retried in its retry schedule.
  const status = replay && result.outcome !== 'delivered' && f.status !== 'FAILED' ? f.status : decision.status;
  const applied = await deps.store.recordAttempt(
    f.id,
    {
      attemptedAt: new Date(),
      source,
      statusCode: result.status ?? null,
      errorCode: result.failure?.code ?? null,
      durationMs: result.durationMs,
      responseSnippet: safeSnippet(result.responseSnippet),
    },
    {
      status,
      nextAttemptAt: status === f.status && replay ? f.nextAttemptAt : decision.nextAttemptAt,
      reason: decision.reason ?? (result.outcome === 'delivered' ? null : (result.failure?.message ?? null)),
      countsAsScheduled: !replay,
      claimedBy: deps.instanceId,
    },
  );
  if (!applied)
    deps.log.warn(
      { id: f.id, eventId: f.eventId, instanceId: deps.instanceId },
      'claim lease expired during the attempt: attempt recorded, status left to the current claimer',
    );
  const base = {
    eventId: f.eventId,
    tenantId: f.tenantId,
    subscriptionId: f.subscriptionId,
    traceId: event?.extensions.traceparent?.split('-')[1],
  };
  const attempt = replay ? undefined : scheduledSoFar;
  // HTTP_SEND only when a request went out (no subscription or an undecodable row sends nothing).
  if (event && sub && !result.failure?.code.startsWith('DLT.'))
    deps.audit.record({
      ...base,
      stage: 'HTTP_SEND',
      status: result.status,
      attempt,
      durationMs: result.durationMs,
      outcome: result.outcome,
      detail: source,
    });
  if (result.outcome !== 'delivered')
    deps.audit.record({
      ...base,
      stage: 'EVENT_ERROR',
      status: result.status,
      attempt,
      errorCode: result.failure?.code,
      detail: `${source} -> ${status}`,
    });
  deps.onAttempt?.(source, status);
  return {
    status,
    delivered: result.outcome === 'delivered',
    statusCode: result.status,
    errorCode: result.failure?.code,
    durationMs: result.durationMs,
    reason: decision.reason,
  };
}

export function startScheduler(deps: RedeliveryDeps & { intervalMs: number; batchSize: number; concurrency: number }) {
  let running = false;
  let stopped = false;
  const tick = async () => {
    if (running || stopped) return;
    running = true;
    try {
      for (;;) {
        const claimed = await deps.store.claimDue(deps.instanceId, deps.batchSize, deps.leaseMs);
        if (claimed.length === 0) break;
        let i = 0;
        const worker = async () => {
          while (i < claimed.length && !stopped) await redeliver(deps, claimed[i++]!, false);
        };
        await Promise.all(Array.from({ length: Math.min(deps.concurrency, claimed.length) }, worker));
        if (claimed.length < deps.batchSize || stopped) break;
      }
    } catch (err) {
      deps.log.error({ err: errorMessage(err) }, 'scheduled retry round failed; next round will try again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), deps.intervalMs);
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
