/**
 * What a delivered redelivery means for its subscription — its endpoint answers again, so its other waiting retries
 * become due now (`pullForward`) and its failing flag is cleared (`markDelivered`) — written at most once per window
 * per subscription instead of twice per delivered row.
 *
 *   delivered(sub) ─ no write for sub in the last window ─▶ write now (leading edge: the backlog of an endpoint that
 *        │                                                   just came back is pulled forward at its first success)
 *        └ else ─▶ one write at the window's end for every success meanwhile (trailing edge: never lost)
 *   exhausted(sub) ─ a later write clears the flag only for a success made after the exhaustion
 *
 * Why: a bulk replay or an endpoint's recovery redelivers thousands of rows of a few subscriptions; two statements
 * per delivered row were most of the dlt-processor's queries (BENCHMARKS.md, failure paths). A failed write is
 * logged and left: the rows keep their schedule and the flag is cleared by the next success.
 */
import { errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logging/logger';
import type { FailureStore } from '../shared/parked/failure-store';

export interface RecoveryNotes {
  /** A redelivery of the subscription succeeded. */
  delivered(subscriptionId: string): void;
  /** A delivery of the subscription exhausted its schedule (the caller marks it so in the store). */
  exhausted(subscriptionId: string): void;
  /** Writes what is pending now and waits for every write in progress (stop, tests). */
  flush(): Promise<void>;
}

interface State {
  /** Sequence numbers of the latest success and exhaustion: a write clears the flag only if the success is later. */
  delivered: number;
  exhausted: number;
  lastWriteAt: number;
  /** A success waits for the window's end (or for the write in progress). */
  pending: boolean;
  timer?: unknown;
  writing?: Promise<void>;
}

export function createRecoveryNotes(
  store: Pick<FailureStore, 'pullForward' | 'markDelivered'>,
  opts: {
    log: Logger;
    /** At most one write per subscription per window (default 1 s). */
    windowMs?: number;
    now?: () => number;
    setTimer?: (fn: () => void, ms: number) => unknown;
    clearTimer?: (handle: unknown) => void;
  },
): RecoveryNotes {
  const windowMs = opts.windowMs ?? 1000;
  const now = opts.now ?? Date.now;
  const setTimer =
    opts.setTimer ??
    ((fn, ms) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    });
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  const states = new Map<string, State>();
  let seq = 0;

  const stateOf = (id: string): State => {
    let s = states.get(id);
    if (!s) {
      s = { delivered: 0, exhausted: 0, lastWriteAt: Number.NEGATIVE_INFINITY, pending: false };
      states.set(id, s);
    }
    return s;
  };

  /**
   * After a write, or when a window passes: within the window, wait for its end (an idle state is kept that long, so
   * the next success still waits for it); after it, the write a success waits for, else forget the idle state.
   */
  const next = (id: string, s: State) => {
    if (s.writing || s.timer !== undefined) return;
    const wait = s.lastWriteAt + windowMs - now();
    if (wait > 0)
      s.timer = setTimer(() => {
        s.timer = undefined;
        next(id, s);
      }, wait);
    else if (s.pending) write(id, s);
    else states.delete(id);
  };

  const write = (id: string, s: State) => {
    s.pending = false;
    s.lastWriteAt = now();
    const clears = s.delivered > s.exhausted;
    s.writing = (async () => {
      try {
        await store.pullForward(id);
        if (clears) await store.markDelivered(id);
      } catch (err) {
        opts.log.warn(
          { subscriptionId: id, err: errorMessage(err) },
          'could not pull the waiting retries of a recovered endpoint forward; they keep their schedule',
        );
      }
    })().finally(() => {
      s.writing = undefined;
      next(id, s);
    });
  };

  return {
    delivered(id) {
      const s = stateOf(id);
      s.delivered = ++seq;
      s.pending = true;
      next(id, s);
    },
    exhausted(id) {
      // Only a write still to come could clear the flag over this exhaustion; without one there is nothing to note.
      const s = states.get(id);
      if (s) s.exhausted = ++seq;
    },
    async flush() {
      for (;;) {
        const busy: Promise<void>[] = [];
        for (const [id, s] of states) {
          if (s.timer !== undefined) {
            clearTimer(s.timer);
            s.timer = undefined;
          }
          if (s.pending && !s.writing) write(id, s);
          if (s.writing) busy.push(s.writing);
        }
        if (busy.length === 0) return;
        await Promise.all(busy);
      }
    },
  };
}
