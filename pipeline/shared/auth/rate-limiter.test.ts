import { createRateLimiter } from './rate-limiter';

describe('createRateLimiter', () => {
  it('allows max calls per key and window, then says how long to wait', () => {
    let t = 1_000;
    const limiter = createRateLimiter(2, 60_000, () => t);
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('b')).toEqual({ ok: true });
    t += 15_000;
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 45 });
    t += 45_000;
    expect(limiter.take('a')).toEqual({ ok: true });
  });
});
