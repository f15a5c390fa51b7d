import pino from 'pino';
import { createRecoveryNotes } from './recovery-notes';

/** A store that records its writes, and a manual clock whose timers run when the test says so. */
function harness(opts: { fail?: boolean } = {}) {
  const writes: string[] = [];
  let gate: (() => void) | undefined;
  let hold = false;
  const store = {
    pullForward: async (id: string) => {
      writes.push(`pull ${id}`);
      if (hold) await new Promise<void>((r) => (gate = r));
      if (opts.fail) throw new Error('db away');
      return 0;
    },
    markDelivered: async (id: string) => {
      writes.push(`clear ${id}`);
    },
  };
  let clock = 0;
  const timers = new Map<number, { fn: () => void; at: number }>();
  let nextId = 1;
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => warnings.push(JSON.parse(l).msg) });
  const notes = createRecoveryNotes(store, {
    log,
    windowMs: 1000,
    now: () => clock,
    setTimer: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { fn, at: clock + ms });
      return id;
    },
    clearTimer: (h) => timers.delete(h as number),
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    notes,
    writes,
    warnings,
    settle,
    hold: () => (hold = true),
    release: () => {
      hold = false;
      gate?.();
    },
    /** Moves the clock and runs the timers due. */
    async advance(ms: number) {
      clock += ms;
      for (const [id, t] of [...timers]) {
        if (t.at > clock) continue;
        timers.delete(id);
        t.fn();
      }
      await settle();
    },
    timers: () => timers.size,
  };
}

describe('createRecoveryNotes', () => {
  it("writes at a subscription's first success at once, and once more for every success within the window", async () => {
    const h = harness();
    h.notes.delivered('s1');
    await h.settle();
    expect(h.writes).toEqual(['pull s1', 'clear s1']);
    for (let i = 0; i < 50; i++) h.notes.delivered('s1');
    await h.settle();
    expect(h.writes).toHaveLength(2); // 50 successes within the window: nothing yet
    await h.advance(999);
    expect(h.writes).toHaveLength(2);
    await h.advance(1);
    expect(h.writes).toEqual(['pull s1', 'clear s1', 'pull s1', 'clear s1']); // one trailing write for the 50
    await h.advance(1000);
    expect(h.writes).toHaveLength(4);
    expect(h.timers()).toBe(0); // idle and forgotten
  });

  it('keeps subscriptions apart', async () => {
    const h = harness();
    h.notes.delivered('s1');
    h.notes.delivered('s2');
    await h.settle();
    expect(h.writes.sort()).toEqual(['clear s1', 'clear s2', 'pull s1', 'pull s2']);
  });

  it('does not clear the failing flag for a success older than an exhaustion, but still pulls forward', async () => {
    const h = harness();
    h.notes.delivered('s1');
    await h.settle();
    h.notes.delivered('s1'); // waits for the window
    h.notes.exhausted('s1'); // a later delivery of s1 failed its whole schedule
    await h.advance(1000);
    expect(h.writes).toEqual(['pull s1', 'clear s1', 'pull s1']);
    h.notes.delivered('s1'); // a success after the exhaustion clears it again
    await h.advance(1000);
    expect(h.writes).toEqual(['pull s1', 'clear s1', 'pull s1', 'pull s1', 'clear s1']);
  });

  it('a success while a write is in progress gets a write after it, not a concurrent one', async () => {
    const h = harness();
    h.hold();
    h.notes.delivered('s1');
    await h.settle();
    h.notes.delivered('s1');
    await h.advance(5000); // the window passes while the first write hangs
    expect(h.writes).toEqual(['pull s1']);
    h.release();
    await h.settle();
    await h.settle();
    expect(h.writes).toEqual(['pull s1', 'clear s1', 'pull s1', 'clear s1']);
  });

  it('flush() writes what waits for its window now, and waits for it', async () => {
    const h = harness();
    h.notes.delivered('s1');
    await h.settle();
    h.notes.delivered('s1');
    await h.notes.flush();
    expect(h.writes).toEqual(['pull s1', 'clear s1', 'pull s1', 'clear s1']);
    expect(h.timers()).toBe(0);
  });

  it('a failed write is logged with what it means, and the next success writes again', async () => {
    const h = harness({ fail: true });
    h.notes.delivered('s1');
    await h.settle();
    await h.settle();
    expect(h.warnings).toEqual([
      'could not pull the waiting retries of a recovered endpoint forward; they keep their schedule',
    ]);
    h.notes.delivered('s1');
    await h.advance(1000);
    expect(h.writes.filter((w) => w === 'pull s1')).toHaveLength(2);
  });
});
