/**
 * "Pause while Postgres is away" for consumers that write to Postgres before they commit (the DLT consumer, the
 * ledger writer): on a failed write the topics are paused (kafkajs `pause`, nothing resolved or committed), Postgres
 * is probed with backoff, and the topics resume when it answers, so the unwritten batch is fetched again.
 */
import type { Consumer } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../logging/logger';

export interface DbPause {
  /** True while paused. */
  paused(): boolean;
  /** Resolves when Postgres answers a ping within the timeout. */
  alive(): Promise<boolean>;
  /** Pauses the topics (once) and probes until Postgres is back. */
  pauseUntilBack(err: unknown, answersPing: boolean): void;
  /** Stops probing; resolves when the probe loop has ended. */
  stop(): Promise<void>;
}

export function pauseWhileDbAway(opts: {
  consumer: Pick<Consumer, 'pause' | 'resume'>;
  topics: string[];
  ping: () => Promise<void>;
  log: Logger;
  /** What is not written, for the log lines: "DLT records", "ledger records". */
  what: string;
  maxBackoffMs?: number;
  pingTimeoutMs?: number;
}): DbPause {
  let down = false;
  let stopped = false;
  let recovery: Promise<void> | undefined;
  const all = () => opts.topics.map((topic) => ({ topic }));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const alive = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opts.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('ping timed out')), opts.pingTimeoutMs ?? 5000);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    paused: () => down,
    alive,
    pauseUntilBack(err, answersPing) {
      if (down) return;
      down = true;
      opts.consumer.pause(all());
      opts.log.error(
        { err: errorMessage(err), answersPing },
        answersPing
          ? `cannot write ${opts.what}: topics paused, nothing committed; trying again shortly`
          : `Postgres does not answer: ${opts.what} topics paused, nothing committed; resuming when it is back`,
      );
      recovery = (async () => {
        let backoff = 200;
        while (!stopped) {
          await sleep(backoff);
          if (stopped) return;
          if (await alive()) {
            down = false;
            opts.consumer.resume(all());
            opts.log.info(`Postgres is back: ${opts.what} topics resumed`);
            return;
          }
          backoff = Math.min(opts.maxBackoffMs ?? 5000, backoff * 2);
        }
      })();
    },
    async stop() {
      stopped = true;
      await recovery;
    },
  };
}
