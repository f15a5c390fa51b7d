/**
 * What a handler decided for one input. Only the Kafka adapter turns an Outcome into produce/commit.
 */
import type { Failure } from './errors';

export type Outcome =
  | { type: 'delivered'; detail?: string }
  | { type: 'retry'; failure: Failure; delayMs: number }
  | { type: 'deadLetter'; failure: Failure }
  | { type: 'skipped'; reason: string };

export const delivered = (detail?: string): Outcome => ({ type: 'delivered', detail });
export const skipped = (reason: string): Outcome => ({ type: 'skipped', reason });
export const deadLetter = (failure: Failure): Outcome => ({ type: 'deadLetter', failure });
export const retry = (failure: Failure, delayMs: number): Outcome => ({ type: 'retry', failure, delayMs });
