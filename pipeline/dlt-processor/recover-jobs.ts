/**
 * Recover (Svix's "recover"): re-deliver a subscription's deliveries since a time, in the background with bounded
 * concurrency, each as a single replay (ledger-replay.ts); progress kept through the RecoverJobStore.
 *
 * The selection is fixed when the job starts: the subscription's deliveries of events received from `since` (never
 * before the retention window) until the job's start, in the statuses asked for (default: all but DELIVERED),
 * oldest first. A delivery whose status changed meanwhile (e.g. delivered by its retry schedule) is not re-sent.
 *
 *   start: recoverSelection (handler.ts) ─▶ count ─▶ job row (RUNNING) ─▶ pages of 200 deliveries, oldest first
 *   ─▶ recoverPlan per delivery: replayAdmitted (sent and recorded in the ledger) or not sent, counted by reason
 *   ─▶ progress ─▶ … ─▶ finish (`jobEnd`: COMPLETED with what was not sent, or FAILED when stopped or broken)
 */
import { errorMessage } from '../shared/errors';
import type { LedgerQuery, RecoverSelection } from '../shared/ledger/ledger-query';
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import { jobEnd, type RecoverRequest, recoverPlan, recoverSelection } from './handler';
import type { RecoverJob, RecoverJobStore } from './job-store';
import { type LedgerReplayDeps, replayAdmitted } from './ledger-replay';

export interface RecoverJobView {
  id: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  subscriptionId: string;
  since: string;
  statuses: LedgerDeliveryStatus[];
  total: number;
  processed: number;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

const PAGE = 200;

const toView = (j: RecoverJob): RecoverJobView => ({
  id: j.id,
  status: j.status,
  subscriptionId: j.subscriptionId,
  since: j.since.toISOString(),
  statuses: j.statuses,
  total: j.total,
  processed: j.processed,
  error: j.error,
  createdAt: j.createdAt.toISOString(),
  finishedAt: j.finishedAt?.toISOString() ?? null,
});

export function createRecoverJobs(
  jobs: RecoverJobStore,
  query: Pick<LedgerQuery, 'countForRecover' | 'pageForRecover'>,
  deps: LedgerReplayDeps & { retentionDays: number },
  concurrency: number,
) {
  const running = new Set<Promise<void>>();
  let stopping = false;

  /** The deliveries a request covers right now (the retention window bounds `since`). */
  const selection = (r: RecoverRequest): RecoverSelection => recoverSelection(r, deps.retentionDays, new Date());

  async function run(jobId: string, sel: RecoverSelection) {
    let processed = 0;
    const notSent = new Map<string, number>();
    const skip = (why: string) => notSent.set(why, (notSent.get(why) ?? 0) + 1);
    let after: { receivedAt: Date; eventId: string } | undefined;
    try {
      for (;;) {
        const page = await query.pageForRecover(sel, after, PAGE);
        if (page.length === 0) break;
        const lastOfPage = page.at(-1)!.delivery;
        after = { receivedAt: lastOfPage.receivedAt, eventId: lastOfPage.eventId };
        let i = 0;
        let broken: unknown;
        const worker = async () => {
          while (i < page.length && !stopping && broken === undefined) {
            const item = page[i++]!;
            try {
              // The gate per delivery: the subscription may be paused or deleted while the job runs.
              const plan = recoverPlan(deps, item);
              if (plan.send) await replayAdmitted(deps, plan.stored, plan.event, plan.sub, item.delivery);
              else skip(plan.why);
            } catch (err) {
              // The ledger sink refused: stop (every worker) rather than send what cannot be recorded.
              broken ??= err;
            } finally {
              processed++;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, page.length) }, worker));
        await jobs.progress(jobId, processed);
        if (broken !== undefined) throw broken;
        if (stopping) break;
      }
      await jobs.finish(jobId, jobEnd('recover', stopping, notSent), processed);
    } catch (err) {
      deps.log.error({ jobId, err: errorMessage(err) }, 'recover job failed');
      await jobs
        .finish(jobId, { status: 'FAILED', error: errorMessage(err) }, processed)
        .catch((e) => deps.log.error({ jobId, err: errorMessage(e) }, 'recover job: could not record its failure'));
    }
  }

  return {
    /** How many deliveries a recover would re-send now (dry run). */
    count(r: RecoverRequest): Promise<number> {
      return query.countForRecover(selection(r));
    },
    async start(r: RecoverRequest, requestedBy: string): Promise<RecoverJobView> {
      const sel = selection(r);
      const total = await query.countForRecover(sel);
      const job = await jobs.create({
        requestedBy,
        tenantId: r.tenantId,
        subscriptionId: r.subscriptionId,
        since: sel.since,
        statuses: r.statuses,
        total,
      });
      const p = run(job.id, sel).finally(() => running.delete(p));
      running.add(p);
      return toView(job);
    },
    /** A job (of this tenant when one is given), else undefined. */
    async get(id: string, tenantId: string | undefined): Promise<RecoverJobView | undefined> {
      const job = await jobs.get(id);
      if (!job || (tenantId !== undefined && job.tenantId !== tenantId)) return undefined;
      return toView(job);
    },
    /** Waits for running jobs to finish. */
    async drain() {
      await Promise.allSettled([...running]);
    },
    /** Shutdown: running jobs finish the deliveries in flight, then end as FAILED (interrupted) with their counts. */
    async stop() {
      stopping = true;
      await Promise.allSettled([...running]);
    },
  };
}
export type RecoverJobs = ReturnType<typeof createRecoverJobs>;
