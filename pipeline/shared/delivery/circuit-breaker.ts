/**
 * Per-endpoint circuit breaker (pure; injectable clock).
 *
 * closed --(failure ratio >= threshold over the window, with >= minRequests)--> open
 * open   --(openMs elapsed)--> half-open: up to `halfOpenProbes` requests pass
 * half-open --(a probe succeeds)--> closed;  --(a probe fails)--> open again
 */
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

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private openedAt = 0;
  private probesInFlight = 0;
  private events: { at: number; ok: boolean }[] = [];

  constructor(
    private readonly opts: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

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
        this.events = [];
      } else this.trip(t);
      return;
    }
    this.events.push({ at: t, ok });
    const from = t - this.opts.windowMs;
    while (this.events.length > 0 && this.events[0]!.at < from) this.events.shift();
    if (this.state === 'closed' && this.events.length >= this.opts.minRequests) {
      const failures = this.events.reduce((n, e) => n + (e.ok ? 0 : 1), 0);
      if (failures / this.events.length >= this.opts.failureRatio) this.trip(t);
    }
  }

  private trip(t: number): void {
    this.state = 'open';
    this.openedAt = t;
    this.events = [];
  }
}

/** One breaker per endpoint origin (scheme://host:port), created on first use. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly opts: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  static originOf(url: string): string {
    try {
      return new URL(url).origin;
    } catch {
      return url;
    }
  }

  for(endpointUrl: string): CircuitBreaker {
    const origin = BreakerRegistry.originOf(endpointUrl);
    let b = this.breakers.get(origin);
    if (!b) {
      b = new CircuitBreaker(this.opts, this.now);
      this.breakers.set(origin, b);
    }
    return b;
  }

  /** Open right now (not yet half-open): records for it need not wait for a slot. */
  isOpen(endpointUrl: string): boolean {
    return this.breakers.get(BreakerRegistry.originOf(endpointUrl))?.current() === 'open';
  }

  counts(): Record<BreakerState, number> {
    const out: Record<BreakerState, number> = { closed: 0, open: 0, 'half-open': 0 };
    for (const b of this.breakers.values()) out[b.current()]++;
    return out;
  }
}
