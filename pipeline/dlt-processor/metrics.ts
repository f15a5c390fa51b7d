/** Prometheus metrics of the dlt-processor. The status gauges are refreshed from the store on an interval. */
import { Counter, Gauge, Registry } from 'prom-client';
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from '../shared/parked/failure-store';

export function createDltMetrics(registry = new Registry()) {
  return {
    registry,
    byStatus: new Gauge({
      name: 'hub_dlt_failed_events',
      help: 'Stored failed deliveries by status',
      labelNames: ['status'],
      registers: [registry],
    }),
    oldestUnresolved: new Gauge({
      name: 'hub_dlt_oldest_unresolved_age_seconds',
      help: 'Age of the oldest unresolved (PENDING, RETRYING or FAILED) failure; 0 when there is none',
      registers: [registry],
    }),
    persisted: new Counter({
      name: 'hub_dlt_records_persisted_total',
      help: 'DLT records stored (including malformed ones stored as FAILED)',
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: 'hub_dlt_redeliveries_total',
      help: 'Redelivery attempts by source (SCHEDULED, REPLAY) and outcome',
      labelNames: ['source', 'outcome'],
      registers: [registry],
    }),
    exhausted: new Counter({
      name: 'hub_deliveries_schedule_exhausted_total',
      help: 'Deliveries that failed their whole retry schedule (now FAILED; their subscription is flagged)',
      registers: [registry],
    }),
    held: new Gauge({
      name: 'hub_deliveries_held',
      help: 'Deliveries held because their subscription is paused, per subscription',
      labelNames: ['subscription_id'],
      registers: [registry],
    }),
    heldOldest: new Gauge({
      name: 'hub_deliveries_held_oldest_age_seconds',
      help: 'Age of the oldest held delivery, per subscription',
      labelNames: ['subscription_id'],
      registers: [registry],
    }),
    failing: new Gauge({
      name: 'hub_subscription_failing',
      help: "1 for a subscription whose endpoint failed a delivery's whole retry schedule (until one succeeds)",
      labelNames: ['subscription_id'],
      registers: [registry],
    }),
    dbPaused: new Gauge({
      name: 'hub_dlt_consumer_paused',
      help: '1 while the DLT consumer is paused because Postgres does not answer',
      registers: [registry],
    }),
    ledgerRows: new Counter({
      name: 'hub_ledger_rows_written_total',
      help: 'Delivery-ledger rows the ledger writer inserted or updated, per table',
      labelNames: ['table'],
      registers: [registry],
    }),
    ledgerLag: new Gauge({
      name: 'hub_ledger_writer_lag',
      help: 'Ledger records not yet written: behind the high watermark of the partitions the writer consumes',
      registers: [registry],
    }),
    ledgerOldestAge: new Gauge({
      name: 'hub_ledger_oldest_unwritten_age_seconds',
      help: 'Age (from its `at`) of the oldest ledger record fetched and not yet written; 0 when idle',
      registers: [registry],
    }),
    ledgerInvalid: new Counter({
      name: 'hub_ledger_records_invalid_total',
      help: 'Ledger records skipped because they are not ledger records, or Postgres refuses what they hold',
      registers: [registry],
    }),
    ledgerOutboxRelayed: new Counter({
      name: 'hub_ledger_outbox_relayed_total',
      help: 'Ledger records (of scheduled retries and replays) relayed from the ledger outbox to the ledger topic',
      registers: [registry],
    }),
    ledgerOutboxFailures: new Counter({
      name: 'hub_ledger_outbox_relay_failures_total',
      help: 'Ledger outbox drains that failed (the records stay in Postgres and are relayed later)',
      registers: [registry],
    }),
  };
}
export type DltMetrics = ReturnType<typeof createDltMetrics>;

/** Keeps the status gauges fresh; they keep their last values while Postgres is away. */
export function startStatusGauges(opts: { metrics: DltMetrics; store: FailureStore; intervalMs: number; log: Logger }) {
  const refresh = async () => {
    try {
      const s = await opts.store.stats();
      for (const [status, n] of Object.entries(s.byStatus)) opts.metrics.byStatus.set({ status }, n);
      opts.metrics.oldestUnresolved.set(s.oldestUnresolvedAgeSeconds ?? 0);
      // Per-subscription series only while there is something to show (reset drops resumed/recovered ones).
      const h = await opts.store.holdAndHealth();
      opts.metrics.held.reset();
      opts.metrics.heldOldest.reset();
      opts.metrics.failing.reset();
      for (const x of h.held) {
        opts.metrics.held.set({ subscription_id: x.subscriptionId }, x.count);
        opts.metrics.heldOldest.set({ subscription_id: x.subscriptionId }, x.oldestAgeSeconds);
      }
      for (const id of h.failing) opts.metrics.failing.set({ subscription_id: id }, 1);
    } catch (err) {
      opts.log.debug({ err: errorMessage(err) }, 'status gauges not refreshed');
    }
  };
  const timer = setInterval(() => void refresh(), opts.intervalMs);
  timer.unref();
  return { refresh, stop: () => clearInterval(timer) };
}
