/** Port: where failed deliveries live. The Prisma adapter is failure-store.prisma.ts. */
import type { LedgerRecord } from '../ledger/ledger-record';
import type { NewFailure } from './parse-dlt-record';

/** Life of a parked delivery (see dlt-processor/handler.ts). */
export type FailureStatus = 'PENDING' | 'RETRYING' | 'HELD' | 'DELIVERED' | 'FAILED' | 'REPLAYED' | 'SKIPPED';

export interface StoredFailure {
  id: string;
  eventId: string;
  subscriptionId: string;
  tenantId: string;
  domain: string;
  eventType: string | null;
  sourceTopic: string | null;
  sourcePartition: number | null;
  sourceOffset: string | null;
  ceHeaders: Record<string, string>;
  body: Buffer;
  failureHeaders: Record<string, string>;
  status: FailureStatus;
  reason: string | null;
  attempts: number;
  ordered: boolean;
  laneSeq: bigint | null;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastErrorCode: string | null;
  firstFailedAt: Date;
  lastFailedAt: Date;
  resolvedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AttemptRecord {
  /**
   * The request's id, made once when it was sent (the ledger's `attemptId`): a step recorded twice (a write retried
   * after an ambiguous commit) is recorded once, and its state is not applied again.
   */
  attemptId?: string;
  attemptedAt: Date;
  source: 'OUTBOX' | 'SCHEDULED' | 'REPLAY';
  statusCode: number | null;
  errorCode: string | null;
  durationMs: number;
  responseSnippet: string | null;
}

export interface FailureFilter {
  tenantId?: string;
  subscriptionId?: string;
  status?: FailureStatus;
  eventType?: string;
  domain?: string;
  from?: Date;
  to?: Date;
}

/** Postgres refused the data itself (bad value, constraint, size limit): retrying the same rows cannot help. */
export class RecordRefusedError extends Error {
  constructor(
    message: string,
    readonly sqlState: string,
  ) {
    super(message);
    this.name = 'RecordRefusedError';
  }
}

export interface FailureStore {
  /**
   * Upserts a batch in one transaction, idempotent on (eventId, subscriptionId). Throws `RecordRefusedError` when
   * Postgres refuses the rows' data; any other error means the database is (for now) unavailable.
   */
  persistBatch(rows: NewFailure[]): Promise<void>;
  /** Resolves when the database answers (used to tell an outage from a record it refuses). */
  ping(): Promise<void>;
  /** Claims due rows for this instance (SKIP LOCKED): no two instances get the same row. */
  claimDue(instanceId: string, limit: number, leaseMs: number): Promise<StoredFailure[]>;
  /** Claims one row for an operator replay; undefined when it is resolved or being worked on. */
  claimForReplay(
    id: string,
    instanceId: string,
    leaseMs: number,
  ): Promise<StoredFailure | 'busy' | 'resolved' | undefined>;
  /** Claims several rows for a bulk replay in one statement; returns the rows it could claim (unresolved, free). */
  claimManyForReplay(ids: string[], instanceId: string, leaseMs: number): Promise<StoredFailure[]>;
  /**
   * Records an attempt and, if `claimedBy` still holds the claim, the row's new state (releasing the claim).
   * False when the claim was lost (lease expired and another instance took the row): only the attempt is kept.
   * An attempt whose `attemptId` is recorded already (this step's earlier write did commit) changes nothing: true
   * when the row holds the step's status (that write applied it), false otherwise.
   * Throws `RecordRefusedError` when Postgres refuses the step's data; any other error may pass (try again).
   */
  recordAttempt(
    id: string,
    /** null: a decision without a request (the gate held the delivery): no attempt row, nothing counted. */
    attempt: AttemptRecord | null,
    next: {
      status: FailureStatus;
      nextAttemptAt: Date | null;
      reason: string | null;
      countsAsScheduled: boolean;
      claimedBy: string;
      /**
       * The step's delivery-ledger records, written to the ledger outbox in the SAME transaction as the attempt and
       * the new state (a committed step always reaches the ledger; the relay produces them). Like the row: the
       * `attempt` records always, the others (the delivery's new state) only while the claim held.
       */
      ledger?: LedgerRecord[];
    },
  ): Promise<boolean>;
  get(id: string): Promise<(StoredFailure & { attemptsLog: AttemptRecord[] }) | undefined>;
  list(
    filter: FailureFilter,
    limit: number,
    cursor?: string,
  ): Promise<{ items: StoredFailure[]; nextCursor: string | null }>;
  count(filter: FailureFilter): Promise<number>;
  ids(filter: FailureFilter, afterId: string | undefined, limit: number): Promise<string[]>;
  stats(tenantId?: string): Promise<{ byStatus: Record<string, number>; oldestUnresolvedAgeSeconds: number | null }>;
  deleteResolvedBefore(before: Date): Promise<number>;

  // --- ordered lanes, pause, endpoint health (issue 13) ---
  /** Lanes of ordered subscriptions that have an unresolved (PENDING, RETRYING, HELD) parked delivery. */
  blockedLanes(): Promise<LaneKey[]>;
  /** True while the lane has an unresolved parked delivery: its next record must queue behind it. */
  laneBlocked(lane: LaneKey): Promise<boolean>;
  /** Blocked lanes with their head (the delivery attempted next) for the operator API. */
  lanes(filter: { tenantId?: string; subscriptionId?: string }, limit: number): Promise<LaneView[]>;
  /**
   * Releases a blocked lane's head: SKIPPED (never delivered) or FAILED (kept for a replay); the lane moves on.
   * Undefined when the lane is not blocked.
   */
  releaseLaneHead(lane: LaneKey, action: 'SKIP' | 'FAIL', reason: string): Promise<StoredFailure | undefined>;
  /** The lane's LANE_WAIT rows -> PENDING, due now (the outbox-processor's queue of that lane drained). */
  releaseLaneWait(lane: LaneKey): Promise<number>;
  /** Subscriptions that have HELD deliveries. */
  heldSubscriptions(): Promise<string[]>;
  /**
   * HELD -> PENDING, due now (the subscription is active). LANE_WAIT rows only once older than `laneWaitMs`: until
   * then the outbox-processor that parked them releases them itself.
   */
  releaseHeld(subscriptionId: string, laneWaitMs: number): Promise<number>;
  /** Every unresolved delivery of a deleted subscription -> SKIPPED with the reason. */
  skipUnresolved(subscriptionId: string, reason: string): Promise<number>;
  /** The subscription's endpoint answered again: its waiting scheduled retries become due now. */
  pullForward(subscriptionId: string): Promise<number>;
  /** A delivery exhausted its schedule: flag the subscription (cleared by `markDelivered`). */
  markExhausted(subscriptionId: string, tenantId: string, eventId: string): Promise<void>;
  markDelivered(subscriptionId: string): Promise<void>;
  /** Count and oldest age of HELD deliveries per subscription, and the flagged subscriptions (metrics). */
  holdAndHealth(): Promise<{
    held: { subscriptionId: string; count: number; oldestAgeSeconds: number }[];
    failing: string[];
  }>;
}

/** Error code of an ordered record parked HELD because its lane's earlier records were still in flight. */
export const LANE_WAIT = 'DELIVERY.LANE_WAIT';

export interface LaneKey {
  subscriptionId: string;
  tenantId: string;
}

export interface LaneView extends LaneKey {
  /** Unresolved deliveries waiting in the lane, the head included. */
  waiting: number;
  head: StoredFailure;
}
