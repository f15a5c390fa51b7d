import { DEFAULT_RESTART_POLICY, RestartBackoff } from './supervisor';

/** Crashes at the given times (ms), each of a child that had been up `upMs`. */
function run(b: RestartBackoff, times: number[], upMs = 100) {
  return times.map((t) => b.crashed(t, upMs));
}

describe('restart policy (RestartBackoff)', () => {
  it('doubles the delay with each crash in a row, capped', () => {
    const b = new RestartBackoff({ maxRestarts: 100, windowMs: 60_000 });
    const delays = run(b, [0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000]).map((d) => d.restart && d.delayMs);
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it('gives up on the crash after maxRestarts restarts within the window, and counts that crash', () => {
    const b = new RestartBackoff({ maxRestarts: 3, windowMs: 10_000 });
    const ds = run(b, [0, 1_000, 2_000, 3_000]);
    expect(ds.map((d) => d.restart)).toEqual([true, true, true, false]);
    expect(ds[3]).toEqual({ restart: false, crashes: 4 });
    expect(ds.slice(0, 3).map((d) => d.restart && d.attempt)).toEqual([1, 2, 3]);
  });

  it('forgets restarts older than the window', () => {
    const b = new RestartBackoff({ maxRestarts: 2, windowMs: 10_000 });
    // 0 and 5 s are in the window at 9 s (give up); at 10.5 s only 5 s is.
    expect(run(b, [0, 5_000]).every((d) => d.restart)).toBe(true);
    expect(b.crashed(9_000, 100)).toEqual({ restart: false, crashes: 3 });
    expect(b.crashed(10_500, 100).restart).toBe(true);
  });

  it('starts the backoff over for a child that ran longer than resetAfterMs', () => {
    const b = new RestartBackoff({ maxRestarts: 100, resetAfterMs: 10_000 });
    run(b, [0, 1_000, 2_000]);
    expect(b.crashed(30_000, 10_000)).toEqual({ restart: true, attempt: 1, delayMs: 500 });
    expect(b.crashed(31_000, 100)).toEqual({ restart: true, attempt: 2, delayMs: 1_000 });
  });

  it('never restarts with maxRestarts 0', () => {
    expect(new RestartBackoff({ maxRestarts: 0 }).crashed(0, 100)).toEqual({ restart: false, crashes: 1 });
  });

  it('defaults: 5 restarts within 60 s, 0.5 s doubling to 10 s, reset after 10 s up', () => {
    expect(DEFAULT_RESTART_POLICY).toEqual({
      maxRestarts: 5,
      windowMs: 60_000,
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      resetAfterMs: 10_000,
    });
    const b = new RestartBackoff();
    const ds = run(b, [0, 1_000, 3_000, 6_000, 11_000, 20_000]);
    expect(ds.map((d) => (d.restart ? d.delayMs : 'give up'))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 'give up']);
  });
});
