/** Port: durable produce to the ingest topic (adapter: ingest-publisher.kafka.ts), for the HTTP and gRPC edges. */
import type { IngestMessage } from './admit-events';

export interface IngestPublisher {
  publish(records: IngestMessage[]): Promise<void>;
}
