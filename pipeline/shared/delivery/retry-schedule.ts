/**
 * The durable retry schedule: the delays between a delivery's scheduled attempts, after the outbox-processor's
 * short in-process attempts (retry-policy.ts) gave up and parked it. Pending retries are Postgres rows; any
 * dlt-processor claims them when due.
 *
 * | scheduled attempt | default delay before it | since the first failure |
 * |-------------------|-------------------------|-------------------------|
 * | 1                 | 5 s                     | 5 s                     |
 * | 2                 | 30 s                    | 35 s                    |
 * | 3                 | 2 min                   | ~2.6 min                |
 * | 4                 | 5 min                   | ~7.6 min                |
 * | 5                 | 30 min                  | ~38 min                 |
 * | 6                 | 2 h                     | ~2.6 h                  |
 * | 7                 | 5 h                     | ~7.6 h                  |
 * | 8                 | 10 h                    | ~17.6 h                 |
 * | 9                 | 10 h                    | ~27.6 h (then FAILED)   |
 *
 * Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with two early steps added (30 s, 2 min): a deploy or
 * a one-minute outage is then over within the first three attempts, and the first success of a subscription pulls
 * its other waiting retries forward (scheduler.ts), so a short outage costs minutes, not hours.
 * `Retry-After` replaces the step's delay, capped (RETRY_AFTER_MAX_MS). The seed's "3 DLT attempts, 3 s apart" is
 * `DELIVERY_RETRY_SCHEDULE=3s,3s,3s`.
 */
export const DEFAULT_RETRY_SCHEDULE_TEXT = '5s,30s,2m,5m,30m,2h,5h,10h,10h';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MAX_SCHEDULE_STEPS = 50;
export const MAX_STEP_MS = 7 * 86_400_000;

/** Parses one duration: `500ms`, `5s`, `5m`, `2h`, `1d` or a number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
  return Number.isFinite(ms) ? ms : undefined;
}

export type ScheduleParse = { ok: true; delays: number[] } | { ok: false; reason: string };

/** Parses a schedule from a comma-separated list or an array of durations; each step 1 s .. 7 d, 1..50 steps. */
export function parseSchedule(input: string | readonly (string | number)[]): ScheduleParse {
  const parts = typeof input === 'string' ? input.split(',') : input;
  if (parts.length === 0 || (parts.length === 1 && String(parts[0]).trim() === ''))
    return { ok: false, reason: 'the schedule has no steps' };
  if (parts.length > MAX_SCHEDULE_STEPS) return { ok: false, reason: `at most ${MAX_SCHEDULE_STEPS} steps` };
  const delays: number[] = [];
  for (const [i, p] of parts.entries()) {
    const ms = typeof p === 'number' ? p : parseDuration(p);
    if (ms === undefined || !Number.isInteger(ms))
      return { ok: false, reason: `step ${i + 1} ("${String(p).trim()}") is not a duration such as 5s, 5m, 2h` };
    if (ms < 1000 || ms > MAX_STEP_MS) return { ok: false, reason: `step ${i + 1} must be between 1s and 7d` };
    delays.push(ms);
  }
  return { ok: true, delays };
}

export const DEFAULT_RETRY_SCHEDULE: readonly number[] = (
  parseSchedule(DEFAULT_RETRY_SCHEDULE_TEXT) as { delays: number[] }
).delays;

/** `5s`, `2m`, `10h`: the shortest exact unit. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', UNITS.d!],
    ['h', UNITS.h!],
    ['m', UNITS.m!],
    ['s', UNITS.s!],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/**
 * Delay before scheduled attempt `done + 1`, after `done` scheduled attempts (0 = the delivery was just parked),
 * or undefined when the schedule is exhausted.
 */
export function scheduledDelay(
  schedule: readonly number[],
  done: number,
  retryAfterMs: number | undefined,
  retryAfterCapMs: number,
): number | undefined {
  const step = schedule[done];
  if (step === undefined) return undefined;
  return retryAfterMs !== undefined && retryAfterMs >= 0 ? Math.min(retryAfterMs, retryAfterCapMs) : step;
}
