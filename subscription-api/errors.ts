/**
 * What the subscription-api's use cases (service.ts, inbound-sources.ts) refuse, in their own terms. They throw
 * these; the edges decide how a refusal is answered (errors.http.ts: a problem+json for the REST routes, and the
 * same problem's status for the gRPC server), so a use case never speaks HTTP.
 *
 *   NotFoundError            the resource does not exist, or belongs to a tenant the caller cannot see
 *   PermissionDeniedError    the caller's key may not do this (another tenant named, an operator-only change)
 *   InvalidArgumentError     fields of the request are not valid (each named with where it is and why)
 *   InvalidRequestError      the request as a whole cannot be carried out (fields that contradict each other or
 *                            the stored resource)
 *   EndpointNotAllowedError  a URL the endpoint policy (SSRF) refuses
 *   ConflictError            it would collide with what exists (an event type of that name)
 */

/** A field the request got wrong: where it is (`body`, `querystring`), its dotted path, and why. */
export interface FieldViolation {
  in?: string;
  path: string;
  message: string;
}

abstract class SubscriptionApiError extends Error {
  abstract readonly kind: string;
}

export class NotFoundError extends SubscriptionApiError {
  readonly kind = 'NOT_FOUND';
  constructor(
    /** What was looked for: `subscription`, `event type`, `inbound source`. */
    readonly what: string,
    readonly id?: string,
  ) {
    super(id === undefined ? `${what} not found` : `${what} "${id}" not found`);
    this.name = 'NotFoundError';
  }
}

export class PermissionDeniedError extends SubscriptionApiError {
  readonly kind = 'PERMISSION_DENIED';
  constructor(message: string) {
    super(message);
    this.name = 'PermissionDeniedError';
  }
}

export class InvalidArgumentError extends SubscriptionApiError {
  readonly kind = 'INVALID_ARGUMENT';
  constructor(
    readonly violations: FieldViolation[],
    message = 'The request does not match the schema',
  ) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

export class InvalidRequestError extends SubscriptionApiError {
  readonly kind = 'INVALID_REQUEST';
  constructor(
    message: string,
    readonly violations?: FieldViolation[],
  ) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

export class EndpointNotAllowedError extends SubscriptionApiError {
  readonly kind = 'ENDPOINT_NOT_ALLOWED';
  constructor(
    /** The field holding the URL: `endpointUrl`, `auth.tokenUrl`. */
    readonly path: string,
    /** Why the policy refuses it, and its code (`URL.BLOCKED_ADDRESS` …). */
    readonly reason: string,
    readonly code: string,
  ) {
    super(`${path}: ${reason} (${code})`);
    this.name = 'EndpointNotAllowedError';
  }
}

export class ConflictError extends SubscriptionApiError {
  readonly kind = 'CONFLICT';
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export type DomainError =
  | NotFoundError
  | PermissionDeniedError
  | InvalidArgumentError
  | InvalidRequestError
  | EndpointNotAllowedError
  | ConflictError;

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof SubscriptionApiError;
}
