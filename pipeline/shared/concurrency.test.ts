import { ByteBudget, KeyedSerialQueue, Semaphore, WakeableSleep } from './concurrency';

const tick = () => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('never lets more than the limit run', async () => {
    const s = new Semaphore(2);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        s.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await tick();
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(s.inUse).toBe(0);
  });

  it('takes a free slot synchronously (the fast path) and refuses when none is free', () => {
    const s = new Semaphore(1);
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire()).toBe(false);
    s.release();
    expect(s.tryAcquire()).toBe(true);
  });

  it('gives up a wait when its signal aborts, leaving no waiter behind and no slot taken', async () => {
    const s = new Semaphore(1);
    s.tryAcquire();
    const stop = new AbortController();
    const waiting = s.acquireUnless(stop.signal);
    expect(s.waiting).toBe(1);
    stop.abort();
    await expect(waiting).resolves.toBe(false);
    expect(s.waiting).toBe(0);
    s.release();
    // The slot went back to the pool, not to the abandoned waiter.
    expect(s.inUse).toBe(0);
    await expect(s.acquireUnless(new AbortController().signal)).resolves.toBe(true);
  });

  it('hands a released slot to a waiter whose signal has not aborted', async () => {
    const s = new Semaphore(1);
    s.tryAcquire();
    const waiting = s.acquireUnless(new AbortController().signal);
    s.release();
    await expect(waiting).resolves.toBe(true);
    expect(s.inUse).toBe(1);
  });

  it('whenIdle resolves when the last slot comes back, or false at its deadline', async () => {
    const s = new Semaphore(3);
    await expect(s.whenIdle()).resolves.toBe(true);
    s.tryAcquire();
    s.tryAcquire();
    let idle: boolean | undefined;
    void s.whenIdle(Date.now() + 60_000).then((v) => {
      idle = v;
    });
    s.release();
    await tick();
    expect(idle).toBeUndefined();
    s.release();
    await tick();
    expect(idle).toBe(true);
    s.tryAcquire();
    await expect(s.whenIdle(Date.now() + 20)).resolves.toBe(false);
  });
});

describe('KeyedSerialQueue', () => {
  it('keeps order per key and lets keys interleave, even after a failure', async () => {
    const q = new KeyedSerialQueue();
    const log: string[] = [];
    const task =
      (name: string, fail = false) =>
      async () => {
        await tick();
        log.push(name);
        if (fail) throw new Error(name);
      };
    await Promise.allSettled([
      q.run('a', task('a1', true)),
      q.run('b', task('b1')),
      q.run('a', task('a2')),
      q.run('a', task('a3')),
    ]);
    expect(log.filter((l) => l.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(log.indexOf('b1')).toBeLessThan(log.indexOf('a2'));
  });
});

describe('WakeableSleep', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('ends at its time, or at once when woken; a wake with nobody asleep is lost, not kept for the next sleep', async () => {
    const s = new WakeableSleep();
    s.wake(); // nobody asleep
    let done = false;
    const first = s.sleep(1000).then(() => {
      done = true;
    });
    await jest.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await first;
    expect(done).toBe(true);

    let woken = false;
    const second = s.sleep(60_000).then(() => {
      woken = true;
    });
    await jest.advanceTimersByTimeAsync(10);
    s.wake();
    await second;
    expect(woken).toBe(true);
    expect(jest.getTimerCount()).toBe(0); // the woken sleep's timer is cleared
  });
});

describe('ByteBudget', () => {
  it('grants takes while they fit, and the next one when enough is given back', async () => {
    const budget = new ByteBudget(10);
    expect(budget.tryTake(4)).toBe(true);
    expect(budget.tryTake(4)).toBe(true);
    expect(budget.tryTake(4)).toBe(false); // 12 > 10
    let granted = false;
    const waiting = budget.takeUnless(4, new AbortController().signal).then((ok) => {
      granted = ok;
    });
    budget.give(4);
    await waiting;
    expect(granted).toBe(true);
    expect(budget.inUse).toBe(8);
  });

  it('lets a take larger than the whole budget through when nothing else is held, alone', async () => {
    const budget = new ByteBudget(10);
    expect(budget.tryTake(3)).toBe(true);
    expect(budget.tryTake(25)).toBe(false);
    const big = budget.takeUnless(25, new AbortController().signal);
    // In order: a small take asked after the big one waits behind it.
    expect(budget.tryTake(1)).toBe(false);
    budget.give(3);
    expect(await big).toBe(true);
    expect(budget.inUse).toBe(25);
    expect(budget.tryTake(1)).toBe(false);
    budget.give(25);
    expect(budget.tryTake(1)).toBe(true);
  });

  it('drops a waiter that gives up, and lets the ones behind it through if they fit', async () => {
    const budget = new ByteBudget(10);
    expect(budget.tryTake(8)).toBe(true);
    const quit = new AbortController();
    const big = budget.takeUnless(9, quit.signal);
    const small = budget.takeUnless(2, new AbortController().signal);
    quit.abort();
    expect(await big).toBe(false);
    expect(await small).toBe(true);
    expect(budget.inUse).toBe(10);
  });

  it('serves as Slots for a consumer', async () => {
    const budget = new ByteBudget(5);
    const slots = budget.slots(5);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    const aborted = new AbortController();
    aborted.abort();
    expect(await slots.acquireUnless(aborted.signal)).toBe(false);
    budget.give(5);
    expect(await slots.acquireUnless(new AbortController().signal)).toBe(true);
  });
});
