/**
 * The dlt-processor's use case: what happens to a parked delivery at each step, as pure decisions. The I/O around
 * them is the adapters': dlt.kafka.ts (DLT records into rows), scheduler.ts (claim, send, record), replay-jobs.ts
 * and recover-jobs.ts (the operator's background jobs).
 *
 *   DLT record ─ parkRecord ─┬─ retriable failure ──────────────────▶ PENDING, due at its schedule's first step
 *                            ├─ permanent failure, malformed record ─▶ FAILED with the reason (never dropped)
 *                            ├─ hub-dlt-disposition HELD / SKIPPED ───▶ HELD (paused) / SKIPPED (refused by the gate)
 *                            └─ Postgres refuses the row itself ──────▶ unstorable: a FAILED placeholder
 *
 *   PENDING ─claim─▶ RETRYING ─ the delivery gate ─┬─ hold (paused) ───▶ HELD: no request, nothing counted
 *      ▲                                           ├─ refuse ──────────▶ SKIPPED (deleted, other tenant, blocked
 *      │                                           │                     endpoint), never sent
 *      │                                planAttempt├─ not a CloudEvent ▶ FAILED
 *      │                                           └─ send ─ deliverOnce ─ stepAfterAttempt (decideAfterAttempt)
 *      │                 delivered ──────────────────────────────────────▶ DELIVERED; its endpoint is back: the
 *      │                                                                   subscription's waiting retries are due
 *      │                                                                   now, its failing flag cleared
 *      │                 permanent failure ──────────────────────────────▶ FAILED
 *      │                 retriable, schedule not exhausted ──────────────▶ RETRYING at the schedule's next step
 *      │                 retriable, schedule exhausted ──────────────────▶ FAILED, the subscription flagged
 *   HELD ─ heldAction, every tick: subscription ACTIVE ─▶ PENDING now · deleted ─▶ SKIPPED · paused ─▶ stays HELD
 *   FAILED / PENDING / RETRYING / HELD / SKIPPED ─operator replay─ delivered ─▶ REPLAYED
 *                                                                 failed ─▶ FAILED, or keeps its place in its schedule
 *
 *   bulk replay: bulkReplayFilter (FAILED unless a status is named); rows resolved or claimed meanwhile are not
 *   replayed and count as failed (tally). Recover: recoverSelection (bounded by the retention window), recoverPlan
 *   per delivery (sent, or not sent with the reason). A job stopped by a shutdown ends FAILED with its counts.
 *
 * The delays are the subscription's retry schedule (shared/delivery/retry-schedule.ts), or the subscriber's
 * Retry-After, capped. The scheduler interval adds up to one tick on top.
 */
import type { AuditEntry } from '../shared/audit/audit';
import type { HubCloudEvent, KafkaHeaders } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import type { Admission, GateDeps } from '../shared/delivery/gate';
import { scheduledDelay } from '../shared/delivery/retry-schedule';
import { errorMessage } from '../shared/errors';
import type { LedgerDeliveryRow, LedgerEventFull, RecoverSelection } from '../shared/ledger/ledger-query';
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import type { FailureFilter, FailureStatus, StoredFailure } from '../shared/parked/failure-store';
import { type NewFailure, parseDltRecord, scheduleFirstAttempt } from '../shared/parked/parse-dlt-record';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import type { JobEnd } from './job-store';
import { decodeLedgerPayload, replayAdmission, retentionCutoff } from './ledger-replay';

export type { FailureStatus };

// ── DLT records -> rows ──────────────────────────────────────────────────────────────────────────────────────

/**
 * The row a DLT record becomes: parsed (parse-dlt-record.ts), and when it is to be retried, due at its schedule's
 * first step after the last failure (`firstDelay`; unset = at once).
 */
export function parkRecord(
  topic: string,
  partition: number,
  message: { offset: string; key: Buffer | null; value: Buffer | null; headers?: KafkaHeaders },
  now: Date,
  firstDelay?: (row: NewFailure) => number | undefined,
): NewFailure {
  const row = parseDltRecord(topic, partition, message, now);
  return firstDelay ? scheduleFirstAttempt(row, firstDelay, now) : row;
}

/** A record that could not be read (stored FAILED with the reason; the consumer logs how many). */
export const isMalformed = (row: NewFailure): boolean => row.reason?.startsWith('malformed') === true;

/** A record Postgres refused as read (it is up): kept as a FAILED row whose headers are base64 JSON. */
export function unstorable(r: NewFailure, err: unknown): NewFailure {
  const synthetic = `${r.sourceTopic}:${r.sourcePartition}:${r.sourceOffset}`;
  const safe = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  return {
    ...r,
    eventId: synthetic,
    subscriptionId: `unknown:${synthetic}`,
    tenantId: safe(r.tenantId),
    eventType: r.eventType === null ? null : safe(r.eventType),
    lastErrorCode: r.lastErrorCode === null ? null : safe(r.lastErrorCode),
    ceHeaders: { 'hub-unstorable-headers-base64': Buffer.from(JSON.stringify(r.ceHeaders)).toString('base64') },
    failureHeaders: {},
    status: 'FAILED',
    reason: `record could not be stored as read (${safe(errorMessage(err))}); its headers are kept base64-encoded`,
  };
}

// ── one step of a claimed row ────────────────────────────────────────────────────────────────────────────────

/** After the gate (a held row has been recorded already): send the event, or the result of not sending it. */
export type AttemptPlan =
  | { type: 'send'; event: HubCloudEvent; sub: SubscriptionSnapshot }
  /** Refused by the gate, or not a CloudEvent: nothing is sent; the step records this as a permanent failure. */
  | { type: 'unsent'; result: DeliveryResult };

export function planAttempt(
  gate: Exclude<Admission, { type: 'hold' }>,
  event: HubCloudEvent | undefined,
  undecodable: string | undefined,
): AttemptPlan {
  if (gate.type === 'refuse')
    return {
      type: 'unsent',
      result: {
        outcome: 'failed',
        failure: { kind: 'permanent', code: gate.code, message: gate.reason },
        durationMs: 0,
      },
    };
  if (!event)
    return {
      type: 'unsent',
      result: {
        outcome: 'failed',
        failure: { kind: 'permanent', code: 'DLT.UNDECODABLE', message: undecodable ?? 'undecodable' },
        durationMs: 0,
      },
    };
  return { type: 'send', event, sub: gate.sub };
}

/** The send itself threw (a bug, not the subscriber): retriable, so the schedule tries again. */
export function internalFailure(err: unknown): DeliveryResult {
  return {
    outcome: 'failed',
    failure: { kind: 'retriable', code: 'DELIVERY.INTERNAL', message: errorMessage(err) },
    durationMs: 0,
  };
}

export interface Decision {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  reason: string | null;
  /** The schedule ran out: the subscription is flagged. */
  exhausted?: boolean;
}

/** What an attempt's result means on the retry schedule (`scheduledAttempts`: the scheduled attempts so far). */
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

/** A claimed row's next state after an attempt (or after the gate refused it), as the store records it. */
export interface ParkedStep {
  status: FailureStatus;
  nextAttemptAt: Date | null;
  /** Why it is in this state: the decision's reason, else the failure's message; null once delivered. */
  reason: string | null;
  /** Which scheduled attempt this was; undefined for a replay (replays do not count against the schedule). */
  attempt: number | undefined;
  /** The schedule ran out: flag the subscription (if the step was applied: the claim still held). */
  exhausted: boolean;
}

export function stepAfterAttempt(
  f: Pick<StoredFailure, 'attempts' | 'status' | 'nextAttemptAt'>,
  gate: Exclude<Admission, { type: 'hold' }>,
  result: DeliveryResult,
  opts: { replay: boolean; schedule: readonly number[]; retryAfterCapMs: number; now: Date },
): ParkedStep {
  const { replay } = opts;
  const scheduledSoFar = f.attempts + (replay ? 0 : 1);
  const decision: Decision =
    gate.type === 'refuse'
      ? { status: 'SKIPPED', nextAttemptAt: null, reason: `refused by the delivery gate: ${gate.reason}` }
      : decideAfterAttempt(result, scheduledSoFar, opts);
  // A failed replay leaves a row that was still being retried in its retry schedule.
  const status =
    replay && gate.type !== 'refuse' && result.outcome !== 'delivered' && !['FAILED', 'SKIPPED'].includes(f.status)
      ? f.status
      : decision.status;
  return {
    status,
    nextAttemptAt: status === f.status && replay ? f.nextAttemptAt : decision.nextAttemptAt,
    reason: decision.reason ?? (result.outcome === 'delivered' ? null : (result.failure?.message ?? null)),
    attempt: replay ? undefined : scheduledSoFar,
    exhausted: decision.exhausted === true,
  };
}

/**
 * The audit entries of a step: HTTP_SEND when a request went out (a refused or undecodable row sends nothing),
 * EVENT_ERROR when it was not delivered (detail `SCHEDULED|REPLAY -> status`).
 */
export function redeliveryAudit(
  f: Pick<StoredFailure, 'eventId' | 'tenantId' | 'subscriptionId'>,
  step: Pick<ParkedStep, 'status' | 'attempt'>,
  x: { source: 'SCHEDULED' | 'REPLAY'; plan: AttemptPlan; result: DeliveryResult },
): AuditEntry[] {
  const { result, source } = x;
  const base = {
    eventId: f.eventId,
    tenantId: f.tenantId,
    subscriptionId: f.subscriptionId,
    traceId: x.plan.type === 'send' ? x.plan.event.extensions.traceparent?.split('-')[1] : undefined,
  };
  const out: AuditEntry[] = [];
  if (x.plan.type === 'send' && !result.failure?.code.startsWith('DLT.'))
    out.push({
      ...base,
      stage: 'HTTP_SEND',
      status: result.status,
      attempt: step.attempt,
      durationMs: result.durationMs,
      outcome: result.outcome,
      detail: source,
    });
  if (result.outcome !== 'delivered')
    out.push({
      ...base,
      stage: 'EVENT_ERROR',
      status: result.status,
      attempt: step.attempt,
      errorCode: result.failure?.code,
      detail: `${source} -> ${step.status}`,
    });
  return out;
}

/** What the sweep does with a subscription's HELD deliveries. */
export type HeldAction = { type: 'release' } | { type: 'skip'; reason: string } | { type: 'wait' };

export function heldAction(sub: Pick<SubscriptionSnapshot, 'status'> | undefined): HeldAction {
  if (!sub) return { type: 'skip', reason: 'subscription deleted while its deliveries were held' };
  return sub.status === 'ACTIVE' ? { type: 'release' } : { type: 'wait' };
}

/**
 * Whether the scheduler runs another round at once: while there is more due — a full batch, or deliveries that made
 * more due (an ordered lane's next head, retries pulled forward because their endpoint answered again).
 */
export function anotherRound(round: { claimed: number; delivered: number }, batchSize: number): boolean {
  return round.claimed > 0 && (round.claimed >= batchSize || round.delivered > 0);
}

// ── operator jobs ────────────────────────────────────────────────────────────────────────────────────────────

/**
 * The rows a bulk replay covers: FAILED unless a status is named (PENDING / RETRYING rows are already scheduled);
 * undefined when the filter names a resolved status (DELIVERED, REPLAYED), which cannot be replayed.
 */
export function bulkReplayFilter(filter: FailureFilter): FailureFilter | undefined {
  if (filter.status === 'DELIVERED' || filter.status === 'REPLAYED') return undefined;
  return { ...filter, status: filter.status ?? 'FAILED' };
}

export interface ReplayTally {
  processed: number;
  succeeded: number;
  failed: number;
}

/**
 * A bulk replay's counts after a page: `unclaimed` rows were resolved or being retried by then and are not
 * replayed (they count as failed), then each replay's outcome.
 */
export function tally(t: ReplayTally, outcome: { unclaimed: number } | { delivered: boolean }): ReplayTally {
  if ('unclaimed' in outcome)
    return { processed: t.processed + outcome.unclaimed, succeeded: t.succeeded, failed: t.failed + outcome.unclaimed };
  return outcome.delivered
    ? { ...t, processed: t.processed + 1, succeeded: t.succeeded + 1 }
    : { ...t, processed: t.processed + 1, failed: t.failed + 1 };
}

/** A recover's request: one subscription's deliveries since a time, in these statuses. */
export interface RecoverRequest {
  tenantId: string;
  subscriptionId: string;
  since: Date;
  statuses: LedgerDeliveryStatus[];
}

/** The deliveries a recover covers at `until`: `since` is never before the retention window. */
export function recoverSelection(r: RecoverRequest, retentionDays: number, until: Date): RecoverSelection {
  const cutoff = retentionCutoff(retentionDays, until.getTime());
  return { ...r, since: new Date(Math.max(r.since.getTime(), cutoff.getTime())), until };
}

/**
 * One delivery of a recover: replay it, or why it is not sent — its event is gone from the ledger, the stored
 * payload is not a CloudEvent, or the gate refuses (the subscription may be paused or deleted while the job runs).
 */
export function recoverPlan(
  deps: { directory: SubscriptionLookup; endpointRejection?: GateDeps['endpointRejection'] },
  item: { delivery: LedgerDeliveryRow; event: LedgerEventFull | undefined },
):
  | { send: true; stored: LedgerEventFull; event: HubCloudEvent; sub: SubscriptionSnapshot }
  | { send: false; why: string } {
  const stored = item.event;
  if (!stored) return { send: false, why: 'event not in the ledger' };
  const decoded = decodeLedgerPayload(stored);
  if (!('event' in decoded)) return { send: false, why: decoded.code };
  const admission = replayAdmission(deps, stored, item.delivery.subscriptionId);
  if (!('sub' in admission)) return { send: false, why: `${admission.code}: ${admission.reason}` };
  return { send: true, stored, event: decoded.event, sub: admission.sub };
}

/**
 * How a job ends: FAILED when a shutdown stopped it (the rest is started again by hand), else COMPLETED — a
 * recover's with how many deliveries it did not send and why (`notSent`: count by reason).
 */
export function jobEnd(
  kind: 'replay' | 'recover',
  interrupted: boolean,
  notSent?: ReadonlyMap<string, number>,
): JobEnd {
  if (interrupted)
    return {
      status: 'FAILED',
      error:
        kind === 'replay'
          ? 'interrupted by shutdown: start a new replay with the same filter for the rest'
          : 'interrupted by shutdown: start a new recover since the last delivery sent for the rest',
    };
  const skipped = [...(notSent ?? [])].map(([why, n]) => `${n} not sent (${why})`).join('; ');
  return { status: 'COMPLETED', error: skipped || null };
}
