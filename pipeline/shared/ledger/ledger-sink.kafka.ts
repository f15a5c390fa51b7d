/**
 * LedgerSink on Kafka: records emitted within `lingerMs` (default 25) go to `<prefix>.ledger.v1` as ONE bundle (a
 * Kafka record holding a JSON array of ledger records, ledger-record.ts; at most LEDGER_BUNDLE_MAX_BYTES each),
 * through the caller's batching producer (acks=-1). Every `emit` resolves once the bundle holding its records is
 * acknowledged, or rejects with the produce's error (the caller must not commit its offset then).
 *
 * The linger is the cost of the ledger on the delivery path: each bundle is a produce the broker appends and
 * acknowledges and this process encodes and awaits, whatever its size. At 5 ms (one bundle per ~17 deliveries at
 * 3,500/s) they cost the broker ~3 and the outbox-processor 4-7 CPU-s per 100,000 deliveries; at 25 ms ~0.5 and
 * ~0 (BENCHMARKS.md, 2026-12-03 09:20). The offsets wait for the acknowledgement, but they are committed every
 * COMMIT_INTERVAL_MS (200 ms) anyway.
 */
import { groupByBytes } from '../group-by-bytes';
import type { BatchingProducer } from '../kafka/batching-producer';
import type { LedgerSink } from './ledger';
import {
  bundleEntryBytes,
  encodeLedgerBundle,
  encodeLedgerRecord,
  LEDGER_BUNDLE_MAX_BYTES,
  LEDGER_LINGER_MS_DEFAULT,
} from './ledger-record';

interface Pending {
  encoded: Buffer[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function kafkaLedgerSink(
  producer: BatchingProducer,
  topic: string,
  opts: { lingerMs?: number; maxBytes?: number } = {},
): LedgerSink {
  const lingerMs = opts.lingerMs ?? LEDGER_LINGER_MS_DEFAULT;
  const maxBytes = opts.maxBytes ?? LEDGER_BUNDLE_MAX_BYTES;
  let pending: Pending[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    bytes = 0;
    if (batch.length === 0) return;
    const groups = groupByBytes(
      batch.flatMap((p) => p.encoded),
      bundleEntryBytes,
      maxBytes,
    );
    // Unkeyed: the writer orders a delivery's states by their `at`, not by the topic's order.
    producer.sendAll(groups.map((g) => ({ topic, key: null, value: encodeLedgerBundle(g), headers: {} }))).then(
      () => {
        for (const p of batch) p.resolve();
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  };

  return {
    emit: (records) => {
      if (records.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const encoded = records.map(encodeLedgerRecord);
        pending.push({ encoded, resolve, reject });
        bytes += encoded.reduce((n, b) => n + bundleEntryBytes(b), 0);
        if (bytes >= maxBytes) flush();
        else timer ??= setTimeout(flush, lingerMs);
      });
    },
  };
}
