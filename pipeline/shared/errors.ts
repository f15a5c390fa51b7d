/**
 * One error taxonomy: retriable vs non-retriable failures, each with a dotted code and a cause.
 * Expected failures are values (`Failure`), only the unexpected throws.
 */
export type FailureKind = 'retriable' | 'permanent';

export interface Failure {
  kind: FailureKind;
  /** Dotted code, e.g. `DELIVERY.TIMEOUT`, `DELIVERY.HTTP_410`, `INGEST.BAD_SPECVERSION`. */
  code: string;
  message: string;
  /** HTTP status when the failure is an HTTP answer. */
  status?: number;
  /** Milliseconds the peer asked us to wait (Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
}

export const retriable = (code: string, message: string, extra: Partial<Failure> = {}): Failure => ({
  kind: 'retriable',
  code,
  message,
  ...extra,
});

export const permanent = (code: string, message: string, extra: Partial<Failure> = {}): Failure => ({
  kind: 'permanent',
  code,
  message,
  ...extra,
});

/** An unexpected error carrying a code, for the rare places that must throw. */
export class HubError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
