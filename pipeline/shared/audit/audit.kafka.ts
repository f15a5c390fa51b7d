/**
 * Kafka adapter for the audit sink: batched produce to the audit topic.
 *
 *   one flush (auditBatches: records of at most AUDIT_BATCH_MAX_BYTES each)
 *     ─▶ produce requests of at most AUDIT_REQUEST_BYTES each, one after another
 *
 * Why the requests are cut: kafkajs puts one request's records for a partition into one record batch, and the broker
 * refuses a batch above message.max.bytes (1 MiB by default) with MESSAGE_TOO_LARGE. A flush at saturation is
 * megabytes (every tenant's records of 200 ms; several tenants share a partition), and as one request the broker
 * refused it whole: the event-processor dropped 4,000-8,000 audit entries at a time, 4-8 times in every bench run
 * (BENCHMARKS.md, 2026-12-03, 12:50 section; found in `npm run bench -- --keep-logs`).
 */
import type { Producer } from 'kafkajs';
import { groupByBytes, producedRecordBytes } from '../group-by-bytes';
import type { AuditProducer } from './audit';

/** Bytes of audit records per produce request (below the broker's default 1 MiB batch limit, whatever the partition). */
export const AUDIT_REQUEST_BYTES = 512 * 1024;

export function kafkaAuditProducer(producer: Producer, topic: string): AuditProducer {
  return {
    async send(messages) {
      for (const part of groupByBytes(messages, producedRecordBytes, AUDIT_REQUEST_BYTES))
        await producer.send({ topic, acks: 1, messages: part });
    },
  };
}
