/**
 * Recover (Svix's "recover"): re-deliver a subscription's deliveries since a time, in the background with bounded
 * concurrency, each as a single replay (ledger-replay.ts); progress kept through the RecoverJobStore.
 *
 * The selection is fixed when the job starts: the subscription's deliveries of events received from `since` (never
 * before the retention window) until the job's start, in the statuses asked for (default: all but DELIVERED),
 * oldest first. A delivery whose status changed meanwhile (e.g. delivered by its retry schedule) is not re-sent.
 */
import { errorMessage } from '../shared/errors';
import type { LedgerQuery, RecoverSelection } from '../shared/ledger/ledger-query';
import type { LedgerDeliveryStatus } from '../shared/ledger/ledger-record';
import type { RecoverJob, RecoverJobStore } from './job-store';
import {
  decodeLedgerPayload,
  type LedgerReplayDeps,
  replayAdmission,
  replayAdmitted,
  retentionCutoff,
} from './ledger-replay';

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

export interface RecoverRequest {
  tenantId: string;
  subscriptionId: string;
  since: Date;
  statuses: LedgerDeliveryStatus[];
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
  const selection = (r: RecoverRequest, until = new Date()): RecoverSelection => {
    const cutoff = retentionCutoff(deps.retentionDays, until.getTime());
    return { ...r, since: new Date(Math.max(r.since.getTime(), cutoff.getTime())), until };
  };

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
            const { delivery, event } = page[i++]!;
            try {
              if (!event) {
                skip('event not in the ledger');
                continue;
              }
              const decoded = decodeLedgerPayload(event);
              if (!('event' in decoded)) {
                skip(decoded.code);
                continue;
              }
              // The gate per delivery: the subscription may be paused or deleted while the job runs.
              const admission = replayAdmission(deps, event, delivery.subscriptionId);
              if (!('sub' in admission)) {
                skip(`${admission.code}: ${admission.reason}`);
                continue;
              }
              await replayAdmitted(deps, event, decoded.event, admission.sub, delivery);
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
      const skipped = [...notSent].map(([why, n]) => `${n} not sent (${why})`).join('; ');
      await jobs.finish(
        jobId,
        {
          status: stopping ? 'FAILED' : 'COMPLETED',
          error: stopping
            ? 'interrupted by shutdown: start a new recover since the last delivery sent for the rest'
            : skipped || null,
        },
        processed,
      );
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
