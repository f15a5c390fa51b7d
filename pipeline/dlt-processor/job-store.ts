/**
 * Ports: where the operator's background jobs keep their progress — bulk replays (replay-jobs.ts) and recovers
 * (recover-jobs.ts). The Postgres adapters are job-store.prisma.ts (ReplayJob and RecoverJob rows).
 *
 *   start ─▶ create (RUNNING, total) ─▶ progress after every page ─▶ finish (COMPLETED | FAILED with the reason)
 *   GET /v1/replay-jobs/{id}, /v1/recover-jobs/{id} ─▶ get (the route checks the tenant)
 *
 * A job runs in the process that started it; its row is what outlives it (an instance that stops mid-job finishes
 * it as FAILED with the counts so far, handler.ts `jobEnd`).
 */
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import type { FailureFilter } from '../shared/parked/failure-store';

export type JobStatus = 'RUNNING' | 'COMPLETED' | 'FAILED';

/** How a job ended, and why when it is not a plain completion (handler.ts `jobEnd`). */
export interface JobEnd {
  status: 'COMPLETED' | 'FAILED';
  error: string | null;
}

export interface ReplayJobCounts {
  processed: number;
  succeeded: number;
  failed: number;
}

export interface ReplayJob extends ReplayJobCounts {
  id: string;
  status: JobStatus;
  /** The tenant the job was scoped to; null = an operator's job over every tenant. */
  tenantId: string | null;
  total: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface ReplayJobStore {
  /** A new RUNNING job (the store gives it its id). */
  create(job: {
    requestedBy: string;
    tenantId: string | undefined;
    filter: FailureFilter;
    total: number;
  }): Promise<ReplayJob>;
  progress(id: string, counts: ReplayJobCounts): Promise<void>;
  finish(id: string, end: JobEnd, counts: ReplayJobCounts): Promise<void>;
  /** The job; undefined when there is none (also for an id that cannot be one). */
  get(id: string): Promise<ReplayJob | undefined>;
}

export interface RecoverJob {
  id: string;
  status: JobStatus;
  tenantId: string;
  subscriptionId: string;
  since: Date;
  statuses: LedgerDeliveryStatus[];
  total: number;
  processed: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface RecoverJobStore {
  /** A new RUNNING job (the store gives it its id). */
  create(job: {
    requestedBy: string;
    tenantId: string;
    subscriptionId: string;
    since: Date;
    statuses: LedgerDeliveryStatus[];
    total: number;
  }): Promise<RecoverJob>;
  progress(id: string, processed: number): Promise<void>;
  finish(id: string, end: JobEnd, processed: number): Promise<void>;
  /** The job; undefined when there is none (also for an id that cannot be one). */
  get(id: string): Promise<RecoverJob | undefined>;
}
