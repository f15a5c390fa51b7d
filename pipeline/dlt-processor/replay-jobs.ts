/** Bulk replay by filter, in the background with bounded concurrency; progress kept through the ReplayJobStore. */
import { errorMessage } from '../shared/errors';
import type { FailureFilter } from '../shared/parked/failure-store';
import type { ReplayJob, ReplayJobStore } from './job-store';
import { type RedeliveryDeps, redeliver } from './scheduler';

export interface ReplayJobView {
  id: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

const toView = (j: ReplayJob): ReplayJobView => ({
  id: j.id,
  status: j.status,
  total: j.total,
  processed: j.processed,
  succeeded: j.succeeded,
  failed: j.failed,
  error: j.error,
  createdAt: j.createdAt.toISOString(),
  finishedAt: j.finishedAt?.toISOString() ?? null,
});

export function createReplayJobs(jobs: ReplayJobStore, deps: RedeliveryDeps, concurrency: number) {
  const running = new Set<Promise<void>>();
  let stopping = false;

  async function run(jobId: string, filter: FailureFilter) {
    let after: string | undefined;
    let processed = 0;
    let succeeded = 0;
    let failed = 0;
    const counts = () => ({ processed, succeeded, failed });
    try {
      for (;;) {
        const ids = await deps.store.ids(filter, after, 200);
        if (ids.length === 0) break;
        after = ids.at(-1);
        // One claim for the page; rows resolved or being retried meanwhile are not replayed (counted as failed).
        const claimed = await deps.store.claimManyForReplay(ids, deps.instanceId, deps.leaseMs);
        failed += ids.length - claimed.length;
        processed += ids.length - claimed.length;
        let i = 0;
        const worker = async () => {
          while (i < claimed.length && !stopping) {
            const out = await redeliver(deps, claimed[i++]!, true);
            if (out.delivered) succeeded++;
            else failed++;
            processed++;
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
        await jobs.progress(jobId, counts());
        if (stopping) break;
      }
      await jobs.finish(
        jobId,
        {
          status: stopping ? 'FAILED' : 'COMPLETED',
          error: stopping ? 'interrupted by shutdown: start a new replay with the same filter for the rest' : null,
        },
        counts(),
      );
    } catch (err) {
      await jobs.finish(jobId, { status: 'FAILED', error: errorMessage(err) }, counts());
    }
  }

  return {
    async start(filter: FailureFilter, requestedBy: string, tenantId: string | undefined): Promise<ReplayJobView> {
      // Replays resolve rows, so the filter always excludes resolved ones.
      const total = await deps.store.count(filter);
      const job = await jobs.create({ requestedBy, tenantId, filter, total });
      const p = run(job.id, filter).finally(() => running.delete(p));
      running.add(p);
      return toView(job);
    },
    async get(id: string, tenantId: string | undefined): Promise<ReplayJobView | undefined> {
      const job = await jobs.get(id);
      if (!job || (tenantId !== undefined && job.tenantId !== tenantId)) return undefined;
      return toView(job);
    },
    /** Waits for running jobs to finish. */
    async drain() {
      await Promise.allSettled([...running]);
    },
    /** Shutdown: running jobs finish the replays in flight, then end as FAILED (interrupted) with their counts. */
    async stop() {
      stopping = true;
      await Promise.allSettled([...running]);
    },
  };
}
