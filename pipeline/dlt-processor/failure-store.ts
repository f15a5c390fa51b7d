/** Port: where failed deliveries live. The Prisma adapter is failure-store.prisma.ts. */
import type { NewFailure } from './parse-dlt-record';
import type { FailureStatus } from './retry-decision';

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
   */
  recordAttempt(
    id: string,
    attempt: AttemptRecord,
    next: {
      status: FailureStatus;
      nextAttemptAt: Date | null;
      reason: string | null;
      countsAsScheduled: boolean;
      claimedBy: string;
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
}
