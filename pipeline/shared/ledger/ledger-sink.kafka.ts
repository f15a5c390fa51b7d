/** LedgerSink on Kafka: records batched to `<prefix>.ledger.v1` (key = tenant), resolved once acknowledged. */
import type { BatchingProducer } from '../kafka/batching-producer';
import type { LedgerSink } from './ledger';
import { encodeLedgerRecord } from './ledger-record';

export function kafkaLedgerSink(producer: BatchingProducer, topic: string): LedgerSink {
  return {
    emit: (records) =>
      producer.sendAll(records.map((r) => ({ topic, key: r.tenantId, value: encodeLedgerRecord(r), headers: {} }))),
  };
}
