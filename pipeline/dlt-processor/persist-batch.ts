/**
 * Writing one fetched batch to Postgres before its offsets may advance: the one piece shared by the DLT consumer
 * (dlt.kafka.ts) and the ledger writer (ledger-writer.kafka.ts).
 *
 *   write(batch) ─ ok ─▶ true (resolve + commit)
 *     │ throws
 *     ├ RecordRefusedError (Postgres refuses what a record holds) ─▶ record by record (below)
 *     └ anything else ─▶ Postgres answers a ping? count a strike for this batch (same partition, same first offset)
 *           ├ below MAX_STRIKES, or Postgres away ─▶ pauseUntilBack; false (nothing resolved, fetched again)
 *           └ MAX_STRIKES rounds while Postgres answers ─▶ record by record, so one bad record cannot hold the partition
 *   record by record: each record written alone (one retry unless refused); a record still refused goes to
 *   `onRefused` (a FAILED placeholder, a skip); Postgres gone meanwhile ─▶ pauseUntilBack; false.
 */
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import { RecordRefusedError } from '../shared/parked/failure-store';

/** Rounds a batch may fail while Postgres answers before its records are written one by one. */
export const MAX_STRIKES = 5;
/** Batches whose strikes are counted at once (the oldest counted forgotten first). */
const MAX_COUNTED = 10_000;

export interface BatchWriterOptions<R> {
  /** One transaction for the records given. */
  write(records: R[]): Promise<void>;
  /**
   * One transaction for one record, when a batch is taken apart (default `write`): the ledger writer's `write` waits
   * to share its transaction with other batches, which would hold each of thousands of single records as long.
   */
  writeAlone?(records: R[]): Promise<void>;
  /** True when Postgres answers a ping in time. */
  alive(): Promise<boolean>;
  /** Pauses the topics (once) and probes until Postgres is back. */
  pauseUntilBack(err: unknown, answersPing: boolean): void;
  log: Logger;
  /** The WARN line when a batch is taken apart. */
  takenApart: string;
}

export interface BatchWriter<R> {
  /**
   * True when every record is written, or refused and handed to `onRefused`; false when the batch must be fetched
   * again (the topics are paused). `onRefused` throwing counts as Postgres failing: paused, false.
   */
  persist(
    records: R[],
    partitionKey: string | number,
    firstOffset: string,
    onRefused: (record: R, err: unknown) => Promise<void> | void,
  ): Promise<boolean>;
}

export function createBatchWriter<R>(opts: BatchWriterOptions<R>): BatchWriter<R> {
  /**
   * Consecutive failures of a batch while Postgres answers pings, per partition and first offset: a writer that hands
   * its batches on (the ledger writer) has several of one partition in flight, and a later one failing in the same
   * round must not start the count of the batch it is read again from over (it would never be taken apart).
   */
  const strikes = new Map<string, number>();
  const strikeKey = (partitionKey: string | number, firstOffset: string) => `${partitionKey}\u0000${firstOffset}`;
  return {
    async persist(records, partitionKey, firstOffset, onRefused) {
      const key = strikeKey(partitionKey, firstOffset);
      try {
        await opts.write(records);
        strikes.delete(key);
        return true;
      } catch (err) {
        if (!(err instanceof RecordRefusedError)) {
          // Unavailable (or a fault we cannot name): pause and try again. A batch that keeps failing while
          // Postgres answers is taken apart after a few rounds, so one bad record cannot hold the partition.
          const up = await opts.alive();
          const n = up ? (strikes.get(key) ?? 0) + 1 : 0;
          strikes.delete(key);
          strikes.set(key, n);
          // Bounded: batches handed on after a failed one are read again from elsewhere and never finish here.
          if (strikes.size > MAX_COUNTED) strikes.delete(strikes.keys().next().value as string);
          if (n < MAX_STRIKES) {
            opts.pauseUntilBack(err, up);
            return false;
          }
        }
        opts.log.warn({ err: errorMessage(err), records: records.length }, opts.takenApart);
      }
      for (const record of records) {
        let last: unknown;
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            await (opts.writeAlone ?? opts.write)([record]);
            last = undefined;
            break;
          } catch (err) {
            last = err;
            if (err instanceof RecordRefusedError) break;
          }
        }
        if (last === undefined) continue;
        if (!(last instanceof RecordRefusedError) && !(await opts.alive())) {
          opts.pauseUntilBack(last, false);
          return false;
        }
        try {
          await onRefused(record, last);
        } catch (again) {
          opts.pauseUntilBack(again, await opts.alive());
          return false;
        }
      }
      strikes.delete(key);
      return true;
    },
  };
}
