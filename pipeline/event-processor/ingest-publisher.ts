/** Port: durable produce to the ingest topic (adapter: ingest-publisher.kafka.ts), for the HTTP and gRPC edges. */
import type { FactRecord } from '../shared/facts/fact';
import type { IngestMessage } from './admit-events';

export interface IngestPublisher {
  /**
   * Produces `records` to the ingest topic and `facts` (an accepted inbound webhook's WebhookDelivered) to their
   * topics in the same produce; resolves only once the broker acknowledged every one of them (acks=all), rejects
   * otherwise (then the caller answers 503 and the sender retries: the same ids again).
   */
  publish(records: IngestMessage[], facts?: readonly FactRecord[]): Promise<void>;
}
