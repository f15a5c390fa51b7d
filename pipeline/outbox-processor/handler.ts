/**
 * Outbox delivery use case: one outbox record -> the subscriber, with retries, or a dead-letter decision.
 *
 *   outbox record ─▶ subscription (directory) ─┬─ unknown / paused ─────────────▶ skipped (+ audit)
 *                                              └─▶ breaker allows? ─ no ───────▶ deadLetter CIRCUIT_OPEN
 *                                                     │ yes
 *                                                     ▼
 *                                         deliverOnce ─ 2xx ────────────────────▶ delivered
 *                                                     ├─ permanent ─────────────▶ deadLetter
 *                                                     └─ retriable ─ nextDelay? ─ yes: sleep, again
 *                                                                              └─ no: deadLetter
 */
import type { AuditSink } from '../shared/audit/audit';
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { nextDelay, type RetryPolicy } from '../shared/delivery/retry-policy';
import { errorMessage, type Failure, permanent } from '../shared/errors';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';

export interface OutboxItem {
  event: HubCloudEvent;
  subscriptionId: string;
  tenantId: string;
}

export type DeliveryOutcome =
  | { type: 'delivered'; attempts: number; status?: number }
  | { type: 'skipped'; reason: string }
  | {
      type: 'deadLetter';
      failure: Failure;
      attempts: number;
      lastStatus?: number;
      firstAttemptAt?: Date;
      lastAttemptAt?: Date;
    };

export interface Breaker {
  allow(): boolean;
  record(ok: boolean): void;
}

export interface DeliveryHandlerDeps {
  directory: SubscriptionLookup;
  deliver: (event: HubCloudEvent, sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  policy: RetryPolicy;
  breakerFor: (endpointUrl: string) => Breaker;
  audit: AuditSink;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  onAttempt?: (result: DeliveryResult, attempt: number) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createDeliveryHandler(deps: DeliveryHandlerDeps) {
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? (() => new Date());

  return async function handle(item: OutboxItem): Promise<DeliveryOutcome> {
    const { event, subscriptionId, tenantId } = item;
    const traceId = event.extensions.traceparent?.split('-')[1];
    const base = { eventId: event.id, tenantId, traceId, subscriptionId };
    const sub = deps.directory.get(subscriptionId);
    if (sub?.status !== 'ACTIVE' || sub.tenantId !== tenantId) {
      const reason = !sub
        ? 'subscription unknown or deleted'
        : sub.status !== 'ACTIVE'
          ? 'subscription paused'
          : 'tenant mismatch';
      deps.audit.record({ ...base, stage: 'EVENT_ERROR', outcome: 'skipped', detail: reason });
      return { type: 'skipped', reason };
    }
    deps.audit.record({ ...base, stage: 'OUTBOX_SEND' });
    const policy = sub.maxAttempts ? { ...deps.policy, maxAttempts: sub.maxAttempts } : deps.policy;
    const breaker = deps.breakerFor(sub.endpointUrl);
    const started = now();
    let attempt = 0;
    let last: DeliveryResult | undefined;
    let lastAt: Date | undefined;
    for (;;) {
      if (!breaker.allow()) {
        const failure = permanent(
          'DELIVERY.CIRCUIT_OPEN',
          `circuit open for ${new URL(sub.endpointUrl).origin}; sent to the DLT for a later retry`,
        );
        deps.audit.record({ ...base, stage: 'EVENT_ERROR', errorCode: failure.code, attempt, outcome: 'deadLetter' });
        return {
          type: 'deadLetter',
          failure,
          attempts: attempt,
          lastStatus: last?.status,
          firstAttemptAt: started,
          lastAttemptAt: lastAt ?? started,
        };
      }
      attempt++;
      lastAt = now();
      try {
        last = await deps.deliver(event, sub);
      } catch (err) {
        // deliverOnce returns failures as values; an exception here is a bug, kept from stalling the partition.
        last = {
          outcome: 'failed',
          failure: { kind: 'retriable', code: 'DELIVERY.INTERNAL', message: errorMessage(err) },
          durationMs: 0,
        };
      }
      breaker.record(last.outcome === 'delivered' || last.failure?.kind === 'permanent');
      deps.onAttempt?.(last, attempt);
      deps.audit.record({
        ...base,
        stage: 'HTTP_SEND',
        attempt,
        status: last.status,
        durationMs: last.durationMs,
        outcome: last.outcome,
        errorCode: last.failure?.code,
      });
      if (last.outcome === 'delivered') return { type: 'delivered', attempts: attempt, status: last.status };
      const failure = last.failure!;
      const delay =
        failure.kind === 'retriable'
          ? nextDelay(policy, attempt, now().getTime() - started.getTime(), failure.retryAfterMs)
          : undefined;
      if (delay === undefined) {
        deps.audit.record({
          ...base,
          stage: 'EVENT_ERROR',
          errorCode: failure.code,
          attempt,
          status: last.status,
          outcome: 'deadLetter',
        });
        return {
          type: 'deadLetter',
          failure,
          attempts: attempt,
          lastStatus: last.status,
          firstAttemptAt: started,
          lastAttemptAt: lastAt,
        };
      }
      await sleep(delay);
    }
  };
}
