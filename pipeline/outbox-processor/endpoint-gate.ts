/**
 * Per-endpoint (origin) concurrency with load shedding for endpoints that stopped making progress.
 *
 * A record for an endpoint waits for one of its `concurrency` slots. When `queueLimit` records already wait, the
 * next one is shed to the DLT (retried from there) — but only if the endpoint has not completed a delivery within
 * `stallMs`. A healthy endpoint that is merely busy (a burst for one big subscriber) keeps draining its queue, so
 * its records wait (back-pressure through the in-flight bounds) instead of taking the slow DLT detour; a hanging or
 * failing one stops completing deliveries, so its overflow is shed and cannot take every in-flight slot from the
 * healthy endpoints that share its partitions.
 */
import { Semaphore } from '../shared/concurrency';

export interface EndpointGateOptions {
  concurrency: number;
  queueLimit: number;
  /** An endpoint without a delivered request for this long counts as stalled. */
  stallMs: number;
  now?: () => number;
}

export class EndpointGate {
  private readonly slots: Semaphore;
  private lastDeliveredAt: number;
  private readonly now: () => number;

  constructor(private readonly opts: EndpointGateOptions) {
    this.slots = new Semaphore(opts.concurrency);
    this.now = opts.now ?? Date.now;
    // A new endpoint gets the benefit of the doubt for one stall period.
    this.lastDeliveredAt = this.now();
  }

  get waiting(): number {
    return this.slots.waiting;
  }

  /** Whether a record arriving now should be shed instead of queued. */
  shouldShed(): boolean {
    return this.slots.waiting >= this.opts.queueLimit && this.now() - this.lastDeliveredAt > this.opts.stallMs;
  }

  /** Runs `fn` in one of the endpoint's slots; `delivered(result)` says whether it reached the subscriber. */
  async run<T>(fn: () => Promise<T>, delivered: (result: T) => boolean): Promise<T> {
    const out = await this.slots.run(fn);
    if (delivered(out)) this.lastDeliveredAt = this.now();
    return out;
  }
}
