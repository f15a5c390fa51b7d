/**
 * "Pause while Postgres is away" for consumers that write to Postgres before they commit (the DLT consumer, the
 * ledger writer): on a failed write the topics are paused (kafkajs `pause`, nothing resolved or committed), Postgres
 * is probed with backoff, and the topics resume when it answers, so the unwritten batch is fetched again.
 */
import type { Consumer } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../logging/logger';
import { pauseWhileAway } from './pause-while-away';

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
  const away = pauseWhileAway({ ...opts, back: `Postgres is back: ${opts.what} topics resumed` });
  return {
    paused: () => away.paused(),
    alive: away.alive,
    pauseUntilBack(err, answersPing) {
      if (away.paused()) return;
      away.pauseUntilBack(
        opts.topics.map((topic) => ({ topic })),
        {
          level: 'error',
          fields: { err: errorMessage(err), answersPing },
          msg: answersPing
            ? `cannot write ${opts.what}: topics paused, nothing committed; trying again shortly`
            : `Postgres does not answer: ${opts.what} topics paused, nothing committed; resuming when it is back`,
        },
      );
    },
    stop: away.stop,
  };
}
