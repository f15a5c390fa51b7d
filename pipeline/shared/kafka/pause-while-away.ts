/**
 * "Pause while a dependency is away" for consumers that cannot finish a record without it (Postgres for the DLT
 * consumer and the ledger writer, the schema registry for ingest): the topic-partitions are paused (kafkajs `pause`,
 * nothing resolved or committed), the dependency is probed with backoff, and they resume when it answers, so the
 * unfinished records are fetched again. No crash, no consumer restart, one line when it goes away and one when it is
 * back.
 */
import type { Consumer } from 'kafkajs';
import type { Logger } from '../logging/logger';

/** A whole topic, or some of its partitions (kafkajs `pause`/`resume` arguments). */
export type PauseTarget = { topic: string; partitions?: number[] };

export interface AwayPause {
  /** True while paused (any topic-partition), or while the given partition is paused. */
  paused(topic?: string, partition?: number): boolean;
  /** Resolves true when the probe succeeds within the timeout. */
  alive(): Promise<boolean>;
  /**
   * Pauses `targets` and probes until the dependency is back, then resumes every target paused meanwhile. The
   * first call of an outage logs `away`; later calls while it lasts only pause more.
   */
  pauseUntilBack(targets: PauseTarget[], away: { level: 'error' | 'warn'; fields: object; msg: string }): void;
  /** Stops probing; resolves when the probe loop has ended. */
  stop(): Promise<void>;
}

export function pauseWhileAway(opts: {
  consumer: Pick<Consumer, 'pause' | 'resume'>;
  /** Resolves when the dependency answers. */
  ping: () => Promise<void>;
  log: Logger;
  /** The INFO line once it is back. */
  back: string;
  /** Called once the paused topic-partitions are resumed. */
  onBack?: () => void;
  maxBackoffMs?: number;
  pingTimeoutMs?: number;
}): AwayPause {
  let stopped = false;
  let recovery: Promise<void> | undefined;
  /** Paused partitions by topic; `undefined` = the whole topic. */
  let targets = new Map<string, Set<number> | undefined>();
  let wake: (() => void) | undefined;
  /** A backoff that stop() cuts short. */
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
  const asList = (m: typeof targets): PauseTarget[] =>
    [...m].map(([topic, parts]) => (parts ? { topic, partitions: [...parts] } : { topic }));
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
    paused(topic, partition) {
      if (topic === undefined) return targets.size > 0;
      if (!targets.has(topic)) return false;
      const parts = targets.get(topic);
      return parts === undefined || partition === undefined || parts.has(partition);
    },
    alive,
    pauseUntilBack(add, away) {
      const first = targets.size === 0;
      for (const t of add) {
        if (!t.partitions) targets.set(t.topic, undefined);
        else if (!targets.has(t.topic) || targets.get(t.topic))
          targets.set(t.topic, new Set([...(targets.get(t.topic) ?? []), ...t.partitions]));
      }
      opts.consumer.pause(add);
      if (!first) return;
      opts.log[away.level](away.fields, away.msg);
      const since = Date.now();
      recovery = (async () => {
        let backoff = 200;
        while (!stopped) {
          await sleep(backoff);
          if (stopped) return;
          if (await alive()) {
            const resumed = asList(targets);
            targets = new Map();
            opts.consumer.resume(resumed);
            opts.log.info({ awayMs: Date.now() - since }, opts.back);
            opts.onBack?.();
            return;
          }
          backoff = Math.min(opts.maxBackoffMs ?? 5000, backoff * 2);
        }
      })();
    },
    async stop() {
      stopped = true;
      wake?.();
      await recovery;
    },
  };
}
