/**
 * The ledger relay: the dlt-processor's ledger outbox ("LedgerOutbox", shared/ledger/ledger-outbox.prisma.ts) to
 * `<prefix>.ledger.v1`, where the ledger writer (ledger-writer.kafka.ts) stores the records and produces the delivery
 * facts, as it does for the other processors' records.
 *
 *   loop:
 *     drain: outbox.relay(batch rows, takeBytes) ─ the rows' records in bundles (ledger-record.ts, at most
 *            LEDGER_BUNDLE_MAX_BYTES each), produced in requests of at most RELAY_REQUEST_BYTES, acks = -1 ─▶ rows
 *            deleted ─▶ again while a take stopped at its limit; a row that cannot be read is set aside (ERROR, once)
 *     wait:  a nudge (the store committed a step's records: FailureStorePrisma's onLedgerOutbox, outboxLedgerSink)
 *            or the backstop poll (pollMs, default 5 s: rows of an instance that died, of a relay that failed)
 *     a failed drain (the topic cannot be written) ─▶ warn, back off (up to maxBackoffMs) and drain again; the rows
 *            stay in Postgres meanwhile, so the ledger is late, never short
 *
 * Why an outbox and not the scheduler writing the ledger tables itself: the ledger writer runs in this process
 * and writes the same database, but delivery facts (issue 18: WebhookDelivered, IntegrationFailed) are produced by
 * the writer from what it reads on the ledger topic, and the ledger tables have one writer whose lock order and
 * day partitions are its own; writing them from the retry's transaction would bypass the facts and add a second
 * writer of the same rows. The outbox keeps one path for every processor's records, and the retry's transaction
 * stays small (one more INSERT).
 *
 * Idle cost: no tight loop. The nudge wakes the relay within the commit that wrote rows; the poll is one
 * `SELECT EXISTS` per pollMs.
 */
import type { Producer } from 'kafkajs';
import { WakeableSleep } from '../shared/concurrency';
import { errorMessage } from '../shared/errors';
import { groupByBytes } from '../shared/group-by-bytes';
import type { LedgerOutbox } from '../shared/ledger/ledger';
import { bundleEntryBytes, encodeLedgerBundle, LEDGER_BUNDLE_MAX_BYTES } from '../shared/ledger/ledger-record';
import type { Logger } from '../shared/logging/logger';
import type { DltMetrics } from './metrics';

/**
 * Bytes of bundles per produce request: kafkajs puts one request's records for a partition into one record batch,
 * and the broker refuses a batch above message.max.bytes (1 MiB by default); see fact-producer.kafka.ts.
 */
export const RELAY_REQUEST_BYTES = 512 * 1024;

export interface LedgerRelayOptions {
  outbox: LedgerOutbox;
  producer: Producer;
  /** topics.ledger */
  topic: string;
  log: Logger;
  /** Outbox rows per transaction (default 500). */
  batchSize?: number;
  /** Bytes of stored records per take (default RELAY_TAKE_BYTES, 4 MiB). */
  takeBytes?: number;
  /** The backstop poll (default 5 s). */
  pollMs?: number;
  /** Upper bound of the backoff after a failed drain (default 5 s). */
  maxBackoffMs?: number;
  metrics?: Pick<DltMetrics, 'ledgerOutboxRelayed' | 'ledgerOutboxFailures'>;
  /** Test hook: runs after a batch was produced and before its rows are deleted (crash injection). */
  afterProduce?: () => Promise<void>;
}

export interface LedgerRelay {
  /** Something was committed to the outbox: relay it now (no-op while a drain will pick it up anyway). */
  nudge(): void;
  /** Relays everything pending now; resolves with the rows relayed. */
  drain(): Promise<number>;
  /** Ledger records produced so far (a record produced again after a failure counts again). */
  relayed(): number;
  /** Drains that failed (and were tried again). */
  failures(): number;
  /** Stops the loop after a last drain (best effort). */
  stop(): Promise<void>;
}

export function startLedgerRelay(opts: LedgerRelayOptions): LedgerRelay {
  const log = opts.log.child({ component: 'ledger-relay' });
  const batchSize = opts.batchSize ?? 500;
  const pollMs = opts.pollMs ?? 5000;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  let running = true;
  let relayedCount = 0;
  let failureCount = 0;
  let failing = 0;
  /** A nudge came since the current drain began: drain again at once (its rows may have missed the SELECT). */
  let nudged = false;
  const idle = new WakeableSleep();

  const publish = async (encoded: Buffer[]): Promise<void> => {
    const bundles = groupByBytes(encoded, bundleEntryBytes, LEDGER_BUNDLE_MAX_BYTES).map(encodeLedgerBundle);
    // Unkeyed, as the other processors' bundles: the writer orders a delivery's states by their `at`.
    for (const request of groupByBytes(bundles, (b) => b.length, RELAY_REQUEST_BYTES))
      await opts.producer.send({
        topic: opts.topic,
        acks: -1,
        messages: request.map((value) => ({ key: null, value })),
      });
    await opts.afterProduce?.();
    relayedCount += encoded.length;
    opts.metrics?.ledgerOutboxRelayed.inc(encoded.length);
  };

  async function drain(): Promise<number> {
    let total = 0;
    if (!(await opts.outbox.pending())) return 0;
    for (;;) {
      const take = await opts.outbox.relay(batchSize, publish, opts.takeBytes);
      for (const r of take.rejected)
        log.error(
          { outboxId: r.id, reason: r.reason },
          'ledger outbox row set aside: its records cannot be read (the row stays in "LedgerOutbox" with the reason; the rows behind it go on)',
        );
      total += take.rows;
      if (!take.more) return total;
    }
  }

  const loop = (async () => {
    while (running) {
      try {
        nudged = false;
        const n = await drain();
        if (failing > 0) log.info({ rows: n }, 'ledger outbox relayed again');
        failing = 0;
        if (running && !nudged) await idle.sleep(pollMs);
      } catch (err) {
        failing++;
        failureCount++;
        opts.metrics?.ledgerOutboxFailures.inc();
        const backoffMs = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failing, 6));
        // The records stay in the outbox: the ledger is late, not short.
        log.warn({ err: errorMessage(err), backoffMs }, 'ledger outbox not relayed; will try again');
        if (running) await idle.sleep(backoffMs);
      }
    }
  })();

  return {
    nudge() {
      nudged = true;
      // While backing off from a failure the nudge does not cut the backoff short (no tight loop against a broker
      // that refuses); the next drain takes the new rows too.
      if (failing === 0) idle.wake();
    },
    drain,
    relayed: () => relayedCount,
    failures: () => failureCount,
    async stop() {
      running = false;
      idle.wake();
      await loop;
      // A last drain for what the final steps committed; what the broker does not take now waits in Postgres for
      // the next relay (this instance restarted, or another one).
      if (failing === 0)
        await drain().catch((err) => log.warn({ err: errorMessage(err) }, 'ledger outbox left for the next relay'));
    },
  };
}
