/** Prometheus metrics of the outbox processor. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { stageHistogram } from '../shared/metrics/stages';

export function createOutboxMetrics(registry = new Registry()) {
  return {
    registry,
    /** The latency budget (shared/metrics/stages.ts). */
    stages: stageHistogram(registry),
    outcomes: new Counter({
      name: 'hub_outbox_deliveries_total',
      help: 'Outbox records by final outcome and last status class',
      labelNames: ['outcome', 'status_class'],
      registers: [registry],
    }),
    attempts: new Counter({
      name: 'hub_outbox_attempts_total',
      help: 'HTTP delivery attempts',
      labelNames: ['status_class'],
      registers: [registry],
    }),
    retries: new Counter({ name: 'hub_outbox_retries_total', help: 'Attempts after the first', registers: [registry] }),
    batchEvents: new Histogram({
      name: 'hub_outbox_batch_events',
      help: 'Events per request of batched subscriptions (one observation per batch sent)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'hub_outbox_in_flight',
      help: 'Outbox records being delivered',
      registers: [registry],
    }),
    inFlightBytes: new Gauge({
      name: 'hub_outbox_in_flight_bytes',
      help: 'Bytes of the outbox records being delivered (key, value, headers; bounded by MAX_IN_FLIGHT_BYTES)',
      registers: [registry],
    }),
    breakersOpen: new Gauge({
      name: 'hub_outbox_breakers_open',
      help: 'Endpoints whose circuit is open or half-open',
      registers: [registry],
    }),
    breakers: new Gauge({
      name: 'hub_outbox_breakers',
      help: 'Endpoint circuit breakers by state',
      labelNames: ['state'],
      registers: [registry],
    }),
    latencyFromEvent: new Histogram({
      name: 'hub_delivery_latency_from_event_seconds',
      help: 'Event time to successful delivery',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    latencyFromDequeue: new Histogram({
      name: 'hub_delivery_latency_from_dequeue_seconds',
      help: 'Fetched from Kafka to final outcome',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
export type OutboxMetrics = ReturnType<typeof createOutboxMetrics>;

export const statusClass = (status?: number) => (status ? `${Math.floor(status / 100)}xx` : 'none');
