/**
 * Delivery-side facts (issue 18): the ledger writer hands each batch's records here after they are in Postgres and
 * before their offsets are committed, so a delivery's fact is never dropped (a crash re-reads the batch and produces
 * the same facts again, with the same ids: fact.ts derives them from event id, subscription id and status).
 *
 *   ledger batch ─ deliveryFactsOf (fact.ts, pure: which records make which fact): delivery records DELIVERED
 *                  (FACTS_DELIVERED: all | none | sample:N) / FAILED
 *     ─▶ WebhookDelivered to <prefix>.facts.webhooks.v1, IntegrationFailed to <prefix>.facts.failures.v1
 *        sendBatch requests of at most FACTS_REQUEST_BYTES each (kafkajs puts one request's records for a partition
 *        into one record batch, and the broker refuses a batch above message.max.bytes, 1 MiB by default: a ledger
 *        batch of thousands of deliveries is megabytes of facts), acks = -1, idempotent producer; resolves once the
 *        broker has them all.
 */
import type { Producer } from 'kafkajs';
import { type DeliveredFactsMode, deliveryFactsOf, type FactRecord, type FactTopics } from '../shared/facts/fact';
import { groupByBytes, producedRecordBytes } from '../shared/group-by-bytes';
import type { LedgerRecord } from '../shared/ledger/ledger-record';

/** Port: produces the facts of ledger records; resolves with how many once they are acknowledged. */
export interface DeliveryFactSink {
  emit(records: readonly LedgerRecord[]): Promise<number>;
}

/** Bytes of facts per produce request (see above). */
export const FACTS_REQUEST_BYTES = 512 * 1024;

/** What a fact costs in a produce request: value, key, headers and the record's own overhead. */
export const factBytes = (f: FactRecord): number => producedRecordBytes(f);

export function kafkaDeliveryFacts(producer: Producer, topics: FactTopics, mode: DeliveredFactsMode): DeliveryFactSink {
  return {
    async emit(records) {
      const facts = deliveryFactsOf(records, topics, mode);
      for (const part of groupByBytes(facts, factBytes, FACTS_REQUEST_BYTES)) {
        const byTopic = new Map<string, FactRecord[]>();
        for (const f of part) {
          const list = byTopic.get(f.topic);
          if (list) list.push(f);
          else byTopic.set(f.topic, [f]);
        }
        await producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, fs]) => ({
            topic,
            messages: fs.map((f) => ({ key: f.key, value: f.value, headers: f.headers })),
          })),
        });
      }
      return facts.length;
    },
  };
}
