/** Kafka adapter for the audit sink: batched produce to the audit topic. */
import type { Producer } from 'kafkajs';
import type { AuditProducer } from './audit';

export function kafkaAuditProducer(producer: Producer, topic: string): AuditProducer {
  return {
    async send(messages) {
      await producer.send({ topic, acks: 1, messages });
    },
  };
}
