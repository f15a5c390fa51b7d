/**
 * The reliability suite's two profiles. `short` runs inside `npm test` (CI, a few minutes in all); `long` is the
 * issue's full load (`RELIABILITY_PROFILE=long npm run test:reliability`), run on a quiet machine and recorded in
 * RELIABILITY.md. Scenarios read their sizes from here, never from literals, so both profiles run the same code.
 */
export type ProfileName = 'short' | 'long';

export const PROFILE: ProfileName = process.env.RELIABILITY_PROFILE === 'long' ? 'long' : 'short';

/** `pick(shortValue, longValue)` by the active profile. */
export const pick = <T>(short: T, long: T): T => (PROFILE === 'long' ? long : short);
