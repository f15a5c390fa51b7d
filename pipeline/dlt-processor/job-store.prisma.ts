/** ReplayJobStore and RecoverJobStore (job-store.ts) on Postgres through Prisma: one row per job. */
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../../prisma/client';
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import type {
  JobEnd,
  JobStatus,
  RecoverJob,
  RecoverJobStore,
  ReplayJob,
  ReplayJobCounts,
  ReplayJobStore,
} from './job-store';

/** The id column is a uuid: anything else is no job (and would be an error from Postgres, not a 404). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const toReplayJob = (j: Prisma.ReplayJobGetPayload<object>): ReplayJob => ({
  id: j.id,
  status: j.status as JobStatus,
  tenantId: j.tenantId,
  total: j.total,
  processed: j.processed,
  succeeded: j.succeeded,
  failed: j.failed,
  error: j.error,
  createdAt: j.createdAt,
  finishedAt: j.finishedAt,
});

const toRecoverJob = (j: Prisma.RecoverJobGetPayload<object>): RecoverJob => ({
  id: j.id,
  status: j.status as JobStatus,
  tenantId: j.tenantId,
  subscriptionId: j.subscriptionId,
  since: j.since,
  statuses: j.statuses as LedgerDeliveryStatus[],
  total: j.total,
  processed: j.processed,
  error: j.error,
  createdAt: j.createdAt,
  finishedAt: j.finishedAt,
});

export class ReplayJobStorePrisma implements ReplayJobStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(job: Parameters<ReplayJobStore['create']>[0]): Promise<ReplayJob> {
    const row = await this.prisma.replayJob.create({
      data: {
        id: randomUUID(),
        requestedBy: job.requestedBy,
        tenantId: job.tenantId,
        filter: job.filter as object,
        status: 'RUNNING',
        total: job.total,
      },
    });
    return toReplayJob(row);
  }

  async progress(id: string, counts: ReplayJobCounts): Promise<void> {
    await this.prisma.replayJob.update({ where: { id }, data: { ...counts } });
  }

  async finish(id: string, end: JobEnd, counts: ReplayJobCounts): Promise<void> {
    await this.prisma.replayJob.update({ where: { id }, data: { ...end, ...counts, finishedAt: new Date() } });
  }

  async get(id: string): Promise<ReplayJob | undefined> {
    if (!UUID.test(id)) return undefined;
    const row = await this.prisma.replayJob.findUnique({ where: { id } });
    return row ? toReplayJob(row) : undefined;
  }
}

export class RecoverJobStorePrisma implements RecoverJobStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(job: Parameters<RecoverJobStore['create']>[0]): Promise<RecoverJob> {
    const row = await this.prisma.recoverJob.create({ data: { id: randomUUID(), ...job, status: 'RUNNING' } });
    return toRecoverJob(row);
  }

  async progress(id: string, processed: number): Promise<void> {
    await this.prisma.recoverJob.update({ where: { id }, data: { processed } });
  }

  async finish(id: string, end: JobEnd, processed: number): Promise<void> {
    await this.prisma.recoverJob.update({ where: { id }, data: { ...end, processed, finishedAt: new Date() } });
  }

  async get(id: string): Promise<RecoverJob | undefined> {
    if (!UUID.test(id)) return undefined;
    const row = await this.prisma.recoverJob.findUnique({ where: { id } });
    return row ? toRecoverJob(row) : undefined;
  }
}
