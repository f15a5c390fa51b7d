/**
 * Delivery-side facts (issue 18): the ledger writer hands each batch's records here after they are in Postgres and
 * before their offsets are committed, so a delivery's fact is never dropped (a crash re-reads the batch and produces
 * the same facts again, with the same ids: fact.ts derives them from event id, subscription id and status).
 *
 *   ledger batch ─ delivery records DELIVERED (FACTS_DELIVERED: all | none | sample:N) / FAILED
 *     ─▶ WebhookDelivered to <prefix>.facts.webhooks.v1, IntegrationFailed to <prefix>.facts.failures.v1
 *        one sendBatch, acks = -1, idempotent producer; resolves once the broker has them all.
 */
import type { Producer } from 'kafkajs';
import { type DeliveredFactsMode, deliveryFactOf, type FactRecord, type FactTopics } from '../shared/facts/fact';
import type { LedgerRecord } from '../shared/ledger/ledger-record';

/** Port: produces the facts of ledger records; resolves with how many once they are acknowledged. */
export interface DeliveryFactSink {
  emit(records: readonly LedgerRecord[]): Promise<number>;
}

export function kafkaDeliveryFacts(producer: Producer, topics: FactTopics, mode: DeliveredFactsMode): DeliveryFactSink {
  return {
    async emit(records) {
      const byTopic = new Map<string, FactRecord[]>();
      for (const r of records) {
        const fact = r.kind === 'delivery' ? deliveryFactOf(r, topics, mode) : undefined;
        if (fact) byTopic.set(fact.topic, [...(byTopic.get(fact.topic) ?? []), fact]);
      }
      if (byTopic.size === 0) return 0;
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, facts]) => ({
          topic,
          messages: facts.map((f) => ({ key: f.key, value: f.value, headers: f.headers })),
        })),
      });
      return [...byTopic.values()].reduce((n, fs) => n + fs.length, 0);
    },
  };
}
