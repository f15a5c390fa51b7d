/**
 * Replay of a delivery from the ledger (operator replay and recover): any event within the retention window, to
 * any of its subscriptions, delivered before or not.
 *
 *   LedgerEvent payload (ce_* headers + data) ─▶ fromKafkaBinary ─▶ delivery gate (admit; else nothing is sent)
 *     ─▶ deliver (same webhook-id = the event id, fresh signature)
 *     ─▶ LedgerSink.emit([attempt (source REPLAY, fresh attemptId), delivery (its new state)])
 *
 * The delivery's new state: DELIVERED when the replay was; otherwise a delivery that was delivered or is still on
 * its way (PENDING / RETRYING / HELD) keeps its status, and one that had ended (FAILED / SKIPPED) is FAILED.
 */
import { randomUUID } from 'node:crypto';
import { fromKafkaBinary, type HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { type Admission, admit, type GateCode, type GateDeps } from '../shared/delivery/gate';
import { safeSnippet } from '../shared/delivery/snippet';
import { errorMessage } from '../shared/errors';
import type { LedgerSink } from '../shared/ledger/ledger';
import type { LedgerDeliveryRow, LedgerEventFull } from '../shared/ledger/ledger-query';
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import type { Logger } from '../shared/logging/logger';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';

export const DEFAULT_LOG_RETENTION_DAYS = 14;
const DAY_MS = 86_400_000;

export interface LedgerReplayDeps {
  directory: SubscriptionLookup;
  deliver: (event: HubCloudEvent, sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  /** Why an endpoint may not be called (the gate's static check); undefined = allowed. */
  endpointRejection?: GateDeps['endpointRejection'];
  /** Where replay attempts and the deliveries' new states are recorded. */
  ledger: LedgerSink;
  log: Logger;
}

/** Why nothing was sent: the gate refused or held it, or the stored payload is not a CloudEvent. */
export interface NotSent {
  code: GateCode | 'GATE.PAUSED' | 'LEDGER.UNDECODABLE';
  reason: string;
}

export interface ReplayOutcome {
  subscriptionId: string;
  delivered: boolean;
  statusCode: number | null;
  errorCode: string | null;
  durationMs: number;
  /** The delivery's status after the replay. */
  status: LedgerDeliveryStatus;
  reason: string | null;
}

/** The oldest "receivedAt" still within the retention window. */
export const retentionCutoff = (retentionDays: number, now = Date.now()) => new Date(now - retentionDays * DAY_MS);

/** The gate's answer for replaying this event to this subscription, as "send to sub" or why not. */
export function replayAdmission(
  deps: Pick<LedgerReplayDeps, 'directory' | 'endpointRejection'>,
  event: Pick<LedgerEventFull, 'tenantId'>,
  subscriptionId: string,
): { sub: SubscriptionSnapshot } | NotSent {
  const gate: Admission = admit(
    { directory: deps.directory, endpointRejection: deps.endpointRejection },
    { subscriptionId, tenantId: event.tenantId },
  );
  if (gate.type === 'admit') return { sub: gate.sub };
  if (gate.type === 'hold') return { code: 'GATE.PAUSED', reason: gate.reason };
  return { code: gate.code, reason: gate.reason };
}

export function decodeLedgerPayload(event: LedgerEventFull): { event: HubCloudEvent } | NotSent {
  const d = fromKafkaBinary(event.payloadHeaders, event.payloadBody);
  return d.ok
    ? { event: d.event }
    : { code: 'LEDGER.UNDECODABLE', reason: `stored payload is not a CloudEvent: ${d.reason}` };
}

/**
 * Delivers an admitted replay and records it (attempt + delivery) through the ledger sink. Rejects only when the
 * ledger sink does (the request was made; the outcome is then in the error message and the log).
 */
export async function replayAdmitted(
  deps: LedgerReplayDeps,
  stored: LedgerEventFull,
  cloudEvent: HubCloudEvent,
  sub: SubscriptionSnapshot,
  previous: Pick<LedgerDeliveryRow, 'status' | 'nextAttemptAt'> | undefined,
): Promise<ReplayOutcome> {
  const attemptedAt = new Date();
  let result: DeliveryResult;
  try {
    result = await deps.deliver(cloudEvent, sub);
  } catch (err) {
    result = {
      outcome: 'failed',
      failure: { kind: 'retriable', code: 'DELIVERY.INTERNAL', message: errorMessage(err) },
      durationMs: Math.round(Date.now() - attemptedAt.getTime()),
    };
  }
  const delivered = result.outcome === 'delivered';
  const failure = result.failure?.message ?? (delivered ? null : 'not delivered');
  const keeps = previous && ['DELIVERED', 'PENDING', 'RETRYING', 'HELD'].includes(previous.status);
  const status: LedgerDeliveryStatus = delivered ? 'DELIVERED' : keeps ? previous.status : 'FAILED';
  const reason = delivered ? null : `replay failed: ${failure}`;
  const at = new Date().toISOString();
  const base = {
    at,
    eventId: stored.eventId,
    tenantId: stored.tenantId,
    subscriptionId: sub.id,
    receivedAt: stored.receivedAt.toISOString(),
  };
  const outcome: ReplayOutcome = {
    subscriptionId: sub.id,
    delivered,
    statusCode: result.status ?? null,
    errorCode: result.failure?.code ?? null,
    durationMs: result.durationMs,
    status,
    reason,
  };
  try {
    await deps.ledger.emit([
      {
        kind: 'attempt',
        ...base,
        at: attemptedAt.toISOString(),
        attemptId: randomUUID(),
        source: 'REPLAY',
        attempt: 1,
        durationMs: Math.max(0, Math.round(result.durationMs)),
        statusCode: result.status ?? null,
        errorCode: result.failure?.code ?? null,
        responseSnippet: safeSnippet(result.responseSnippet),
      },
      {
        kind: 'delivery',
        ...base,
        status,
        reason,
        attempts: 1,
        lastStatusCode: result.status ?? null,
        nextAttemptAt: !delivered && keeps ? (previous.nextAttemptAt?.toISOString() ?? null) : null,
      },
    ]);
  } catch (err) {
    deps.log.error(
      {
        eventId: stored.eventId,
        subscriptionId: sub.id,
        delivered,
        statusCode: outcome.statusCode,
        err: errorMessage(err),
      },
      'replay sent but its ledger records could not be emitted',
    );
    throw new LedgerNotRecordedError(outcome, errorMessage(err));
  }
  return outcome;
}

/** The replay was sent, but the ledger sink refused its records. */
export class LedgerNotRecordedError extends Error {
  constructor(
    readonly outcome: ReplayOutcome,
    cause: string,
  ) {
    super(
      `replay to ${outcome.subscriptionId} was sent (delivered: ${outcome.delivered}) but its ledger records could not be written: ${cause}`,
    );
    this.name = 'LedgerNotRecordedError';
  }
}
