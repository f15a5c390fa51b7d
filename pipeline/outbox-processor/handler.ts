/**
 * Outbox delivery use case: one outbox record -> its subscriber, with retries, or a dead-letter decision.
 *
 *                       ┌──────────▶ delivery gate (gate.ts) ─┬─ unknown / deleted / other tenant / blocked ─▶ skipped
 *                       │                   │ admit             └─ paused ─────────────────────────────────▶ held
 *                       │                   ▼
 *                       │           endpoint breaker allows? ── no ─────────────────────────────▶ deadLetter CIRCUIT_OPEN
 *                       │                   │ yes
 *                       │                   ▼
 *                       │             deliverOnce ── 2xx ────────────────────────────────────────▶ delivered
 *                       │                   ├── permanent (410, 4xx, 3xx, SSRF) ─────────────────▶ deadLetter
 *                       │                   └── retriable (5xx, 408, 429, timeout, connect)
 *                       │                          │ nextDelay (backoff, Retry-After, total bound)
 *                       └── sleep(delay) ◀── yes ──┤
 *                                                  └── no more (attempts, time, shutdown) ───────▶ deadLetter
 *
 * The gate runs before every attempt, retries included: a subscription paused or deleted during the retries is
 * held or skipped, never sent to again. The in-process attempts are short (seconds in all, retry-policy.ts); a
 * delivery that needs longer is parked in the durable retry schedule (deadLetter -> DLT -> dlt-processor).
 *
 * Returns a value for every input (never throws): the Kafka adapter turns it into a DLT produce and an offset.
 */
import type { AuditSink } from '../shared/audit/audit';
import type { HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { admit, type GateCode, type GateDeps } from '../shared/delivery/gate';
import { originOf } from '../shared/delivery/origin';
import { nextDelay, type RetryPolicy } from '../shared/delivery/retry-policy';
import { errorMessage, type Failure, retriable } from '../shared/errors';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';

export interface OutboxItem {
  event: HubCloudEvent;
  subscriptionId: string;
  tenantId: string;
}

/** One HTTP attempt of this record, for the delivery ledger. */
export interface Try {
  at: Date;
  durationMs: number;
  status?: number;
  errorCode?: string;
  responseSnippet?: string;
}

export type DeliveryOutcome = (
  | { type: 'delivered'; attempts: number; status?: number }
  /** Refused by the delivery gate: never sent; the reason is recorded (a SKIPPED row). */
  | { type: 'skipped'; code: GateCode; reason: string }
  /** The subscription is paused: kept (a HELD row) and delivered on resume. */
  | { type: 'held'; reason: string }
  | {
      type: 'deadLetter';
      failure: Failure;
      attempts: number;
      lastStatus?: number;
      firstAttemptAt: Date;
      lastAttemptAt: Date;
    }
) & {
  /** The attempts made (none when the gate or a fast path decided). */
  tries?: Try[];
};

/** Port: the per-endpoint circuit breaker (CircuitBreaker). */
export interface Breaker {
  allow(): boolean;
  record(ok: boolean): void;
}

export interface DeliveryHandlerDeps {
  directory: SubscriptionLookup;
  /** The gate's endpoint check (gate.ts); undefined = every endpoint the directory holds is allowed. */
  endpointRejection?: GateDeps['endpointRejection'];
  /** One attempt (deliverOnce bound to its sender, auth provider and secret box). Never throws. */
  deliver: (event: HubCloudEvent, sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  policy: RetryPolicy;
  breakerFor: (endpointUrl: string) => Breaker;
  audit: AuditSink;
  /** Aborted on shutdown: no new retry waits; a record that still needed one goes to the DLT instead. */
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => Date;
  random?: () => number;
  onAttempt?: (result: DeliveryResult, attempt: number, sub: SubscriptionSnapshot) => void;
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function createDeliveryHandler(deps: DeliveryHandlerDeps) {
  const sleep = deps.sleep ?? abortableSleep;
  const now = deps.now ?? (() => new Date());

  return async function handle(item: OutboxItem): Promise<DeliveryOutcome> {
    const { event, subscriptionId, tenantId } = item;
    const traceId = event.extensions.traceparent?.split('-')[1];
    const base = { eventId: event.id, tenantId, traceId, subscriptionId };
    const gateDeps = { directory: deps.directory, endpointRejection: deps.endpointRejection };
    let gate = admit(gateDeps, item);
    if (gate.type === 'refuse') {
      deps.audit.record({
        ...base,
        stage: 'EVENT_ERROR',
        outcome: 'skipped',
        errorCode: gate.code,
        detail: gate.reason,
      });
      return { type: 'skipped', code: gate.code, reason: gate.reason };
    }
    if (gate.type === 'hold') return { type: 'held', reason: gate.reason };
    let sub = gate.sub;
    // Audit entries as literals of one shape (no spreads: JSON.stringify walks spread-built objects slowly).
    deps.audit.record({ eventId: event.id, tenantId, traceId, subscriptionId, stage: 'OUTBOX_SEND' });
    const policy = sub.maxAttempts ? { ...deps.policy, maxAttempts: sub.maxAttempts } : deps.policy;
    const breaker = deps.breakerFor(sub.endpointUrl);
    const firstAttemptAt = now();
    let lastAttemptAt = firstAttemptAt;
    let attempt = 0;
    let lastStatus: number | undefined;
    const tries: Try[] = [];

    const deadLetter = (failure: Failure): DeliveryOutcome => {
      deps.audit.record({
        ...base,
        stage: 'EVENT_ERROR',
        errorCode: failure.code,
        attempt,
        status: lastStatus,
        outcome: 'deadLetter',
        detail: failure.message.slice(0, 300),
      });
      return { type: 'deadLetter', failure, attempts: attempt, lastStatus, firstAttemptAt, lastAttemptAt, tries };
    };

    for (;;) {
      if (attempt > 0) {
        // The gate again before every retry: paused or deleted meanwhile means held or skipped, not sent.
        gate = admit(gateDeps, item);
        if (gate.type === 'refuse') {
          deps.audit.record({ ...base, stage: 'EVENT_ERROR', outcome: 'skipped', errorCode: gate.code });
          return { type: 'skipped', code: gate.code, reason: gate.reason, tries };
        }
        if (gate.type === 'hold') return { type: 'held', reason: gate.reason, tries };
        sub = gate.sub;
      }
      if (!breaker.allow()) {
        // Retriable: the DLT processor retries it on its schedule, once the endpoint has recovered.
        return deadLetter(
          retriable('DELIVERY.CIRCUIT_OPEN', `circuit open for ${originOf(sub.endpointUrl)}; retried from the DLT`),
        );
      }
      attempt++;
      lastAttemptAt = now();
      let result: DeliveryResult;
      try {
        result = await deps.deliver(event, sub);
      } catch (err) {
        // deliverOnce returns failures as values; an exception here is a bug, still kept from stalling anything.
        result = {
          outcome: 'failed',
          failure: retriable('DELIVERY.INTERNAL', errorMessage(err)),
          durationMs: 0,
          responseSnippet: '',
        };
      }
      lastStatus = result.status ?? lastStatus;
      tries.push({
        at: lastAttemptAt,
        durationMs: result.durationMs,
        status: result.status,
        errorCode: result.failure?.code,
        responseSnippet: result.responseSnippet,
      });
      // A permanent answer (4xx) proves the endpoint is up: only retriable failures count against the breaker. A
      // batch is one request: only its leader's share counts.
      if (result.batch?.leader !== false)
        breaker.record(result.outcome === 'delivered' || result.failure?.kind === 'permanent');
      deps.onAttempt?.(result, attempt, sub);
      deps.audit.record({
        eventId: event.id,
        tenantId,
        traceId,
        subscriptionId,
        stage: 'HTTP_SEND',
        attempt,
        status: result.status,
        durationMs: result.durationMs,
        outcome: result.outcome,
        errorCode: result.failure?.code,
      });
      if (result.outcome === 'delivered') return { type: 'delivered', attempts: attempt, status: result.status, tries };
      const failure = result.failure ?? retriable('DELIVERY.UNKNOWN', 'delivery failed without a reason');
      if (failure.kind !== 'retriable' || deps.signal?.aborted) return deadLetter(failure);
      const delay = nextDelay(
        policy,
        attempt,
        now().getTime() - firstAttemptAt.getTime(),
        failure.retryAfterMs,
        deps.random,
      );
      if (delay === undefined) return deadLetter(failure);
      await sleep(delay, deps.signal);
      if (deps.signal?.aborted) return deadLetter(failure);
    }
  };
}
