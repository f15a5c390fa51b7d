/**
 * The latency budget of a delivery, stage by stage (issue 15): one histogram, `hub_stage_seconds{stage}`, in the
 * processes that see each stage. `npm run bench` scrapes it before and after a phase and prints where an event's
 * time goes.
 *
 *   producer ─ ingest_wait ─▶ event-processor: ep_process ─▶ ep_transaction ─▶ committed
 *        ─ outbox_wait (event-processor fetch ─▶ outbox-processor dequeue: ep_process + ep_transaction + visibility
 *          to read_committed readers + fetch + queueing) ─▶ http (request sent ─▶ response) ─▶ subscriber
 */
import { Histogram, type Registry } from 'prom-client';

export const STAGES = ['ingest_wait', 'ep_process', 'ep_transaction', 'outbox_wait', 'http'] as const;
export type Stage = (typeof STAGES)[number];

/** Fine at the low end: the budget at 60% load is tens of milliseconds. */
export const STAGE_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

export function stageHistogram(registry: Registry): Histogram<'stage'> {
  return new Histogram({
    name: 'hub_stage_seconds',
    help: 'Time spent in each stage of a delivery (the latency budget): ingest_wait, ep_process, ep_transaction, outbox_wait, http',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
}
