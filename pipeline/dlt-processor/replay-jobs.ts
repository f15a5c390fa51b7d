/**
 * Bulk replay by filter, in the background with bounded concurrency; progress kept through the ReplayJobStore.
 *
 *   start: count ─▶ job row (RUNNING) ─▶ pages of 200 ids ─▶ claim the page (one statement) ─▶ redeliver each
 *   claimed row as a replay (scheduler.ts) ─▶ counts (handler.ts `tally`) ─▶ progress ─▶ … ─▶ finish (`jobEnd`)
 */
import { errorMessage } from '../shared/errors';
import type { FailureFilter } from '../shared/parked/failure-store';
import { jobEnd, type ReplayTally, tally } from './handler';
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
    let counts: ReplayTally = { processed: 0, succeeded: 0, failed: 0 };
    try {
      for (;;) {
        const ids = await deps.store.ids(filter, after, 200);
        if (ids.length === 0) break;
        after = ids.at(-1);
        // One claim for the page; rows resolved or being retried meanwhile are not replayed.
        const claimed = await deps.store.claimManyForReplay(ids, deps.instanceId, deps.leaseMs);
        counts = tally(counts, { unclaimed: ids.length - claimed.length });
        let i = 0;
        const worker = async () => {
          while (i < claimed.length && !stopping) {
            const out = await redeliver(deps, claimed[i++]!, true);
            counts = tally(counts, { delivered: out.delivered });
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
        await jobs.progress(jobId, counts);
        if (stopping) break;
      }
      await jobs.finish(jobId, jobEnd('replay', stopping), counts);
    } catch (err) {
      await jobs.finish(jobId, { status: 'FAILED', error: errorMessage(err) }, counts);
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
