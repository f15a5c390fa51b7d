/** IngestPublisher on Kafka: idempotent producer, acks=all, one batch per HTTP request. */
import type { Producer } from 'kafkajs';
import type { IngestPublisher } from './ingest-publisher';

export function kafkaIngestPublisher(producer: Producer, topic: string): IngestPublisher {
  return {
    async publish(records) {
      await producer.send({ topic, acks: -1, messages: records });
    },
  };
}
