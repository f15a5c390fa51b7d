/** Prometheus metrics of the event-processor. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { stageHistogram } from '../shared/metrics/stages';

export function createEventProcessorMetrics(registry = new Registry()) {
  return {
    registry,
    /** The latency budget (shared/metrics/stages.ts). */
    stages: stageHistogram(registry),
    recordsIn: new Counter({
      name: 'hub_ingest_records_total',
      help: 'Ingest records processed (committed), by topic and input format (or "poison")',
      labelNames: ['topic', 'format'],
      registers: [registry],
    }),
    recordsOut: new Counter({
      name: 'hub_outbox_records_produced_total',
      help: 'Outbox records produced (committed), by domain',
      labelNames: ['domain'],
      registers: [registry],
    }),
    matches: new Histogram({
      name: 'hub_event_matches',
      help: 'Matching subscriptions per event',
      buckets: [0, 1, 2, 5, 10, 25, 100],
      registers: [registry],
    }),
    quarantined: new Counter({
      name: 'hub_ingest_quarantined_total',
      help: 'Poison records sent to the quarantine topic, by code',
      labelNames: ['code'],
      registers: [registry],
    }),
    processingLatency: new Histogram({
      name: 'hub_event_processing_seconds',
      help: 'Fetched from Kafka to committed in the outbox transaction, per record',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    transactionSeconds: new Histogram({
      name: 'hub_outbox_transaction_seconds',
      help: 'Duration of one outbox transaction (send, offsets, commit)',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    transactionsAborted: new Counter({
      name: 'hub_outbox_transactions_aborted_total',
      help: 'Outbox transactions aborted (the batch is retried)',
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'hub_ingest_consumer_lag',
      help: 'Records behind the high watermark, per ingest partition (as of the last batch)',
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
    consumerCrashes: new Counter({
      name: 'hub_ingest_consumer_crashes_total',
      help: 'Ingest consumer crashes (kafkajs restarts the consumer, or the instance exits)',
      registers: [registry],
    }),
    registryPaused: new Gauge({
      name: 'hub_ingest_registry_paused',
      help: '1 while ingest partitions are paused because the schema registry does not answer (their records wait)',
      registers: [registry],
    }),
    httpIngested: new Counter({
      name: 'hub_http_ingest_events_total',
      help: 'Events accepted over HTTP and produced to the ingest topic',
      labelNames: ['mode'],
      registers: [registry],
    }),
    inboundRequests: new Counter({
      name: 'hub_inbound_requests_total',
      help: 'Inbound webhooks that passed verification, by outcome (accepted, duplicate, unavailable)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    inboundRefused: new Counter({
      name: 'hub_inbound_refused_total',
      help: 'Inbound webhooks refused (nothing produced), by reason (bad_signature, timestamp_out_of_tolerance, ...)',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
export type EventProcessorMetrics = ReturnType<typeof createEventProcessorMetrics>;
