/**
 * IngestPublisher on Kafka: idempotent producer, acks=all, one batch per HTTP request.
 *
 *   records only ─▶ send(ingest topic)
 *   records + facts (an accepted inbound webhook, issue 18) ─▶ ONE sendBatch: the ingest records and the facts in the
 *     same produce request (per broker), acks=all, resolved only when all are acknowledged. The caller answers 2xx only
 *     then, so an accepted webhook always has its fact. A produce that fails, even half-way (one partition
 *     acknowledged, another not), is answered 503 and the vendor retries: with a delivery id the retry carries the
 *     same event id and so the same fact id (fact.ts; consumers dedupe on both); a source without one (`dedupe: null`)
 *     makes a new event of every retry anyway.
 *
 * Why not a Kafka transaction: one transactional producer runs one transaction at a time, so every inbound request
 * of the instance would queue behind the one before (three more broker round trips each), and what a transaction
 * adds — the event and its fact invisible together on a failure — is covered by the retry with the same ids.
 */
import type { Producer } from 'kafkajs';
import type { FactRecord } from '../shared/facts/fact';
import type { IngestPublisher } from './ingest-publisher';

export function kafkaIngestPublisher(producer: Producer, topic: string): IngestPublisher {
  return {
    async publish(records, facts = []) {
      if (facts.length === 0) {
        await producer.send({ topic, acks: -1, messages: records });
        return;
      }
      const byTopic = new Map<string, FactRecord[]>();
      for (const f of facts) byTopic.set(f.topic, [...(byTopic.get(f.topic) ?? []), f]);
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          { topic, messages: records },
          ...[...byTopic].map(([t, fs]) => ({
            topic: t,
            messages: fs.map((f) => ({ key: f.key, value: f.value, headers: f.headers })),
          })),
        ],
      });
    },
  };
}
