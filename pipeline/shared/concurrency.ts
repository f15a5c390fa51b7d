/**
 * Small concurrency tools: a counting semaphore, a byte budget, per-key serial queues, and a sleep that can be cut
 * short.
 */

/** What a consumer can wait for while it heartbeats (ConsumerRunner's `ctx.acquire`): a Semaphore, or ByteBudget.slots. */
export interface Slots {
  /** Takes at once when it can, without a promise. */
  tryAcquire(): boolean;
  /** Waits unless `signal` aborts first: true when taken (give it back), false when the wait was given up. */
  acquireUnless(signal: AbortSignal): Promise<boolean>;
}

export class Semaphore implements Slots {
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

/**
 * Bytes held at once (records in flight), granted in the order asked. A take larger than the whole budget is granted
 * when nothing else is held, so an oversized record still moves, alone. A waiter that gives up leaves the queue and
 * lets the ones behind it through if they fit.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiters: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  tryTake(bytes: number): boolean {
    if (this.waiters.length > 0 || !this.fits(bytes)) return false;
    this.used += bytes;
    return true;
  }

  takeUnless(bytes: number, signal: AbortSignal): Promise<boolean> {
    if (this.tryTake(bytes)) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        bytes,
        grant: () => {
          signal.removeEventListener('abort', aborted);
          resolve(true);
        },
      };
      const aborted = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.wake();
        resolve(false);
      };
      this.waiters.push(waiter);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
    this.wake();
  }

  /** `bytes` of this budget as Slots (for ConsumerRunner's `ctx.acquire`); give them back with `give(bytes)`. */
  slots(bytes: number): Slots {
    return { tryAcquire: () => this.tryTake(bytes), acquireUnless: (signal) => this.takeUnless(bytes, signal) };
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const next = this.waiters.shift()!;
      this.used += next.bytes;
      next.grant();
    }
  }
}

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
