/** Small concurrency tools: a counting semaphore, per-key serial queues, and a sleep that can be cut short. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  /** Resolved when every slot is back (see `whenIdle`). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** The fast path: takes a slot when one is free now, without a promise. */
  tryAcquire(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Waits for a slot unless `signal` aborts first: true when a slot was taken (release it), false when the wait was
   * given up (no slot is held, and none is lost: the waiter leaves the queue).
   */
  acquireUnless(signal: AbortSignal): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const granted = () => {
        signal.removeEventListener('abort', aborted);
        resolve(true);
      };
      const aborted = () => {
        const i = this.waiters.indexOf(granted);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      };
      this.waiters.push(granted);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else if (--this.active === 0 && this.idleWaiters.length > 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of idle) resolve();
    }
  }

  /**
   * Resolves true once every slot is back (nothing holds one), or false at `deadline` (epoch ms) if some still are:
   * a drain by taking the slots back, woken by the last release instead of polling.
   */
  whenIdle(deadline = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (Number.isFinite(deadline))
        timer = setTimeout(
          () => {
            this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
            resolve(false);
          },
          Math.max(0, deadline - Date.now()),
        );
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Runs tasks with the same key one after another (in submission order); different keys run independently. */
export class KeyedSerialQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/**
 * A loop's wait between rounds that another party can end early (the relays' poll: a commit or a nudge wakes them
 * at once, the timer is the backstop). One sleeper at a time; `wake()` with nobody asleep does nothing.
 */
export class WakeableSleep {
  private waker: (() => void) | undefined;

  /** Resolves after `ms`, or at the next `wake()`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.waker === done) self.waker = undefined;
        resolve();
      }
      this.waker = done;
    });
  }

  /** Ends the current sleep now. */
  wake(): void {
    this.waker?.();
  }
}
