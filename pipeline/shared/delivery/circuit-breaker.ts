/**
 * Per-endpoint circuit breaker (pure; injectable clock).
 *
 * closed --(failure ratio >= threshold over the window, with >= minRequests)--> open
 * open   --(openMs elapsed)--> half-open: up to `halfOpenProbes` requests pass
 * half-open --(a probe succeeds)--> closed;  --(a probe fails)--> open again
 *
 * The window is counted in WINDOW_BUCKETS time buckets (a failure is forgotten between windowMs and
 * windowMs + windowMs / WINDOW_BUCKETS after it happened), so record() costs O(1) whatever the request rate.
 * Keeping every outcome and re-counting the window on each record was 20% of the outbox-processor's CPU at
 * 1,000 deliveries/s (BENCHMARKS.md).
 */
import { originOf } from './origin';

export interface BreakerOptions {
  windowMs: number;
  minRequests: number;
  failureRatio: number;
  openMs: number;
  halfOpenProbes: number;
}

export const DEFAULT_BREAKER: BreakerOptions = {
  windowMs: 10_000,
  minRequests: 20,
  failureRatio: 0.5,
  openMs: 5_000,
  halfOpenProbes: 1,
};

export type BreakerState = 'closed' | 'open' | 'half-open';

const WINDOW_BUCKETS = 10;

interface Bucket {
  start: number;
  total: number;
  failures: number;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private openedAt = 0;
  private probesInFlight = 0;
  /** Oldest first; at most WINDOW_BUCKETS + 1 of them. */
  private buckets: Bucket[] = [];
  private total = 0;
  private failures = 0;

  private readonly bucketMs: number;

  constructor(
    private readonly opts: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, Math.floor(opts.windowMs / WINDOW_BUCKETS));
  }

  current(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.opts.openMs) {
      this.state = 'half-open';
      this.probesInFlight = 0;
    }
    return this.state;
  }

  /** Whether a request may go out now; in half-open, counts it as a probe. */
  allow(): boolean {
    const s = this.current();
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.probesInFlight >= this.opts.halfOpenProbes) return false;
    this.probesInFlight++;
    return true;
  }

  record(ok: boolean): void {
    const t = this.now();
    if (this.state === 'half-open') {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1);
      if (ok) {
        this.state = 'closed';
        this.reset();
      } else this.trip(t);
      return;
    }
    const start = t - (t % this.bucketMs);
    let last = this.buckets.at(-1);
    if (!last || last.start !== start) {
      last = { start, total: 0, failures: 0 };
      this.buckets.push(last);
    }
    last.total++;
    this.total++;
    if (!ok) {
      last.failures++;
      this.failures++;
    }
    // Forget buckets that ended before the window began.
    const from = t - this.opts.windowMs;
    while (this.buckets.length > 0 && this.buckets[0]!.start + this.bucketMs <= from) {
      const old = this.buckets.shift()!;
      this.total -= old.total;
      this.failures -= old.failures;
    }
    if (
      this.state === 'closed' &&
      this.total >= this.opts.minRequests &&
      this.failures / this.total >= this.opts.failureRatio
    )
      this.trip(t);
  }

  private reset(): void {
    this.buckets = [];
    this.total = 0;
    this.failures = 0;
  }

  private trip(t: number): void {
    this.state = 'open';
    this.openedAt = t;
    this.reset();
  }
}

/** One breaker per endpoint origin (scheme://host:port), created on first use. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly opts: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  for(endpointUrl: string): CircuitBreaker {
    const origin = originOf(endpointUrl);
    let b = this.breakers.get(origin);
    if (!b) {
      b = new CircuitBreaker(this.opts, this.now);
      this.breakers.set(origin, b);
    }
    return b;
  }

  /** Open right now (not yet half-open): records for it need not wait for a slot. */
  isOpen(endpointUrl: string): boolean {
    return this.breakers.get(originOf(endpointUrl))?.current() === 'open';
  }

  counts(): Record<BreakerState, number> {
    const out: Record<BreakerState, number> = { closed: 0, open: 0, 'half-open': 0 };
    for (const b of this.breakers.values()) out[b.current()]++;
    return out;
  }
}
