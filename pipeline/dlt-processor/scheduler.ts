/**
 * Redelivery of parked deliveries: the durable retry schedule and the operator replays share one path. What each
 * step means is decided in handler.ts (pure); this file claims, sends and records.
 *
 *   every interval: sweep HELD (resumed ─▶ PENDING now · deleted ─▶ SKIPPED)
 *                   claimDue (SKIP LOCKED; an ordered lane at its head only)
 *                     ─▶ delivery gate (admit · hold ─▶ HELD · refuse ─▶ SKIPPED, never sent)
 *                     ─▶ deliverOnce (same webhook-id, fresh signature) ─▶ decideAfterAttempt (the schedule)
 *                     ─▶ recordAttempt (attempt row + new status + the step's ledger records, ONE transaction)
 *                     ─▶ delivered: the subscription's other waiting retries become due now (its endpoint is back),
 *                        its failing flag is cleared (once per second per subscription at most: recovery-notes.ts),
 *                        and another round runs at once (a lane's next head)
 *                     ─▶ schedule exhausted: FAILED with the reason, the subscription is flagged
 *
 * The delivery ledger (issue 14) hears of every step through the ledger outbox: the step's records (its attempt and
 * the delivery's new state, `parkedLedgerRecords` in shared/parked/parked-ledger.ts) are written by `recordAttempt`
 * in the transaction that records the step, and the ledger relay (ledger-relay.kafka.ts, which says why an outbox)
 * produces them to the ledger topic. A step is in the ledger exactly when it is in Postgres: a broker that is away
 * delays the ledger, a SIGKILL after the commit loses nothing (the next relay sends the rows), and a produce
 * repeated after a crash is written once (each attempt keeps the `attemptId` it was given here). Before, the records
 * were produced on their own and a failed produce was only logged: the attempt was lost from the ledger.
 */
import { randomUUID } from 'node:crypto';
import type { AuditSink } from '../shared/audit/audit';
import { fromKafkaBinary, type HubCloudEvent } from '../shared/cloudevents/envelope';
import type { DeliveryResult } from '../shared/delivery/deliver';
import { admit, type GateDeps } from '../shared/delivery/gate';
import { safeSnippet } from '../shared/delivery/snippet';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import { type FailureStore, RecordRefusedError, type StoredFailure } from '../shared/parked/failure-store';
import { parkedLedgerRecords } from '../shared/parked/parked-ledger';
import type { SubscriptionLookup } from '../shared/subscriptions/directory';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import {
  anotherRound,
  type FailureStatus,
  heldAction,
  internalFailure,
  planAttempt,
  redeliveryAudit,
  stepAfterAttempt,
} from './handler';
import type { RecoveryNotes } from './recovery-notes';

export interface RedeliveryDeps {
  store: FailureStore;
  directory: SubscriptionLookup;
  deliver: (event: HubCloudEvent, sub: SubscriptionSnapshot) => Promise<DeliveryResult>;
  audit: AuditSink;
  log: Logger;
  instanceId: string;
  /** The retry schedule of a subscription (its own, else the hub's DELIVERY_RETRY_SCHEDULE). */
  scheduleFor: (sub: SubscriptionSnapshot | undefined) => readonly number[];
  retryAfterCapMs: number;
  /** Why an endpoint may not be called (the gate's static check); undefined = allowed. */
  endpointRejection?: GateDeps['endpointRejection'];
  leaseMs: number;
  /**
   * What a delivered step means for its subscription (its other waiting retries due now, its failing flag cleared),
   * written at most once per second per subscription (recovery-notes.ts); without it, written at every success.
   */
  recovery?: RecoveryNotes;
  /** Called after every recorded attempt (metrics). */
  onAttempt?: (source: 'SCHEDULED' | 'REPLAY', outcome: FailureStatus) => void;
  /** A delivery exhausted its schedule (metrics). */
  onExhausted?: (subscriptionId: string) => void;
  /**
   * Record each step in the delivery ledger: its attempt and the delivery's new state go to the store's ledger
   * outbox in the step's transaction (LEDGER_ENABLED).
   */
  recordLedger?: boolean;
}

/**
 * Records a step. Once a request went out the step must be on record (the row's attempt log and, with it, the
 * ledger): a write that fails while Postgres is busy or away for a moment (no pool connection in time, a failover)
 * is tried again, with backoff, for up to the claim's lease; a step whose data Postgres refuses is not. Before the
 * ledger was written in this transaction, such a failure lost the attempt from the row only; now it would lose it
 * from both, and the subscriber would see the retry made again after the lease as an attempt the ledger lacks.
 * A retried write whose first try did commit after all finds its `attemptId` recorded and writes nothing again
 * (FailureStore.recordAttempt): no doubled attempt row, and no stale state over a step made since.
 */
async function recordStep(deps: RedeliveryDeps, ...args: Parameters<FailureStore['recordAttempt']>): Promise<boolean> {
  const deadline = Date.now() + deps.leaseMs;
  for (let i = 0; ; i++) {
    try {
      return await deps.store.recordAttempt(...args);
    } catch (err) {
      if (err instanceof RecordRefusedError || Date.now() >= deadline) {
        deps.log.error({ err: errorMessage(err), id: args[0] }, 'attempt not recorded');
        throw err;
      }
      const backoffMs = Math.min(5000, 100 * 2 ** Math.min(i, 6));
      deps.log.warn({ err: errorMessage(err), id: args[0], backoffMs }, 'attempt not recorded yet; trying again');
      await new Promise((r) => setTimeout(r, backoffMs));
    }
  }
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
  // The gate, scoped by the row's tenant: a row naming another tenant's subscription is never sent.
  const gate = admit({ directory: deps.directory, endpointRejection: deps.endpointRejection }, f);
  const sub = gate.type === 'refuse' ? undefined : gate.sub;
  if (gate.type === 'hold') {
    // Paused: held until resumed (no request, nothing counted against the schedule).
    await recordStep(deps, f.id, null, {
      status: 'HELD',
      nextAttemptAt: null,
      reason: gate.reason,
      countsAsScheduled: false,
      claimedBy: deps.instanceId,
      ledger: deps.recordLedger
        ? parkedLedgerRecords(f, { at: new Date(), status: 'HELD', reason: gate.reason, nextAttemptAt: null })
        : undefined,
    });
    deps.onAttempt?.(source, 'HELD');
    return { status: 'HELD', delivered: false, durationMs: 0, reason: gate.reason };
  }
  const plan = planAttempt(gate, event, undecodable);
  let result: DeliveryResult;
  if (plan.type === 'unsent') result = plan.result;
  else {
    try {
      result = await deps.deliver(plan.event, plan.sub);
    } catch (err) {
      result = internalFailure(err);
    }
  }
  // The row's next state (status, when, why); its nextAttemptAt and reason are final (a failed replay keeps a row
  // that was still being retried in its schedule).
  const decision = stepAfterAttempt(f, gate, result, {
    replay,
    schedule: deps.scheduleFor(sub),
    retryAfterCapMs: deps.retryAfterCapMs,
    now: new Date(),
  });
  const { status, nextAttemptAt, reason } = decision;
  const attemptedAt = new Date();
  const attemptId = randomUUID(); // the row's and the ledger's: a step written twice is recorded once
  const applied = await recordStep(
    deps,
    f.id,
    {
      attemptId,
      attemptedAt,
      source,
      statusCode: result.status ?? null,
      errorCode: result.failure?.code ?? null,
      durationMs: result.durationMs,
      responseSnippet: safeSnippet(result.responseSnippet),
    },
    {
      status,
      nextAttemptAt,
      reason,
      countsAsScheduled: !replay,
      claimedBy: deps.instanceId,
      ledger: deps.recordLedger
        ? parkedLedgerRecords(f, {
            at: attemptedAt,
            source,
            attempt: decision.attempt,
            attemptId,
            result: gate.type === 'refuse' || !event ? undefined : result,
            status,
            reason,
            nextAttemptAt,
          })
        : undefined,
    },
  );
  if (!applied)
    deps.log.warn(
      { id: f.id, eventId: f.eventId, instanceId: deps.instanceId },
      'claim lease expired during the attempt: attempt recorded, status left to the current claimer',
    );
  for (const entry of redeliveryAudit(f, decision, { source, plan, result })) deps.audit.record(entry);
  // The audit and metrics of the attempt first, then what it means for the subscription's other deliveries.
  if (result.outcome === 'delivered') {
    // The endpoint answers again: its other waiting retries need not wait for their next step.
    if (deps.recovery) deps.recovery.delivered(f.subscriptionId);
    else {
      await deps.store.pullForward(f.subscriptionId);
      await deps.store.markDelivered(f.subscriptionId);
    }
  } else if (decision.exhausted && applied) {
    deps.recovery?.exhausted(f.subscriptionId);
    await deps.store.markExhausted(f.subscriptionId, f.tenantId, f.eventId);
    deps.onExhausted?.(f.subscriptionId);
    deps.log.warn(
      { eventId: f.eventId, tenantId: f.tenantId, subscriptionId: f.subscriptionId, attempts: decision.attempt },
      'retry schedule exhausted: delivery FAILED and subscription flagged; replay it once the endpoint is fixed',
    );
  }
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

/**
 * HELD deliveries of resumed subscriptions become due now; those of deleted subscriptions end as SKIPPED.
 * Runs every tick, so a missed or late directory change only delays a release by one tick.
 */
export async function sweepHeld(
  deps: Pick<RedeliveryDeps, 'store' | 'directory' | 'log'> & { laneWaitReleaseMs?: number },
): Promise<number> {
  let released = 0;
  for (const id of await deps.store.heldSubscriptions()) {
    const action = heldAction(deps.directory.get(id));
    try {
      if (action.type === 'release') {
        const n = await deps.store.releaseHeld(id, deps.laneWaitReleaseMs ?? 120_000);
        released += n;
        if (n > 0) deps.log.info({ subscriptionId: id, released: n }, 'subscription resumed: held deliveries released');
      } else if (action.type === 'skip') {
        const n = await deps.store.skipUnresolved(id, action.reason);
        if (n > 0) deps.log.info({ subscriptionId: id, skipped: n }, 'subscription deleted: held deliveries skipped');
      }
    } catch (err) {
      // One subscription's sweep failing (Postgres busy) must not keep the others, or the tick's rounds, waiting: it
      // is swept again next tick; what it already changed stays changed (each chunk is its own transaction).
      deps.log.warn({ subscriptionId: id, err: errorMessage(err) }, 'held sweep failed for a subscription; next tick');
    }
  }
  return released;
}

export function startScheduler(
  deps: RedeliveryDeps & { intervalMs: number; batchSize: number; concurrency: number; laneWaitReleaseMs?: number },
) {
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async (): Promise<{ claimed: number; delivered: number }> => {
    const claimed = await deps.store.claimDue(deps.instanceId, deps.batchSize, deps.leaseMs);
    let i = 0;
    let delivered = 0;
    const worker = async () => {
      while (i < claimed.length && !stopped) if ((await redeliver(deps, claimed[i++]!, false)).delivered) delivered++;
    };
    await Promise.all(Array.from({ length: Math.min(deps.concurrency, claimed.length) }, worker));
    return { claimed: claimed.length, delivered };
  };
  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    running ??= (async () => {
      try {
        await sweepHeld(deps);
        for (;;) {
          const r = await round();
          if (stopped || !anotherRound(r, deps.batchSize)) break;
        }
      } catch (err) {
        deps.log.error({ err: errorMessage(err) }, 'scheduled retry round failed; next round will try again');
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void tick(), deps.intervalMs);
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
