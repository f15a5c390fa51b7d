import { DEFAULT_RETRY_SCHEDULE, formatDuration, parseDuration, parseSchedule, scheduledDelay } from './retry-schedule';

describe('retry schedule', () => {
  it('ships a default that spans more than 24 hours, Svix-like with two early steps', () => {
    expect(DEFAULT_RETRY_SCHEDULE.map(formatDuration)).toEqual([
      '5s',
      '30s',
      '2m',
      '5m',
      '30m',
      '2h',
      '5h',
      '10h',
      '10h',
    ]);
    expect(DEFAULT_RETRY_SCHEDULE.reduce((a, b) => a + b, 0)).toBeGreaterThan(24 * 3_600_000);
  });
  it('parses durations and lists, and says which step is wrong', () => {
    expect(parseDuration('1500ms')).toBe(1500);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseSchedule('3s, 3s,3s')).toEqual({ ok: true, delays: [3000, 3000, 3000] });
    expect(parseSchedule(['5s', 60_000])).toEqual({ ok: true, delays: [5000, 60_000] });
    expect(parseSchedule('5s,5x')).toEqual({ ok: false, reason: 'step 2 ("5x") is not a duration such as 5s, 5m, 2h' });
    expect(parseSchedule('500ms')).toMatchObject({ ok: false, reason: 'step 1 must be between 1s and 7d' });
    expect(parseSchedule('')).toMatchObject({ ok: false });
    expect(parseSchedule(Array(51).fill('1s'))).toMatchObject({ ok: false, reason: 'at most 50 steps' });
  });
  it('gives the step after the attempts so far, Retry-After (capped) instead, and undefined when exhausted', () => {
    const s = [5000, 30_000];
    expect(scheduledDelay(s, 0, undefined, 60_000)).toBe(5000);
    expect(scheduledDelay(s, 1, undefined, 60_000)).toBe(30_000);
    expect(scheduledDelay(s, 1, 10_000, 60_000)).toBe(10_000);
    expect(scheduledDelay(s, 1, 3_600_000, 60_000)).toBe(60_000);
    expect(scheduledDelay(s, 2, 10_000, 60_000)).toBeUndefined();
  });
});
