/**
 * The subscription-api's domain errors (errors.ts) as RFC 9457 problems: the one place a refusal gets its HTTP
 * status and problem type. Both edges answer through it:
 *
 *   REST:  route throws ─▶ the routes' error handler (app.ts) ─▶ asProblem ─▶ the app's problem+json handler
 *   gRPC:  method throws ─▶ the call's mapError (grpc/server.grpc.ts) ─▶ asProblem ─▶ status (shared/grpc/status.ts)
 *
 *   NotFoundError            404 not-found              NOT_FOUND
 *   PermissionDeniedError    403 forbidden              PERMISSION_DENIED
 *   InvalidArgumentError     400 validation-error       INVALID_ARGUMENT + field violations
 *   InvalidRequestError      400 bad-request            INVALID_ARGUMENT (+ field violations when named)
 *   EndpointNotAllowedError  400 endpoint-not-allowed   INVALID_ARGUMENT + the URL field as violation
 *   ConflictError            409 conflict               ALREADY_EXISTS
 *
 * Anything else passes through unchanged (a ProblemError thrown by the edge itself, a validation error of the
 * framework, or a bug, which answers 500 / INTERNAL without detail).
 */
import {
  badRequest,
  conflict,
  forbidden,
  notFound,
  type ProblemError,
  problem,
  validationFailed,
} from '../pipeline/shared/http/problem';
import { type DomainError, isDomainError } from './errors';

export function problemOf(err: DomainError): ProblemError {
  switch (err.kind) {
    case 'NOT_FOUND':
      return notFound(err.what, err.id);
    case 'PERMISSION_DENIED':
      return forbidden(err.message);
    case 'INVALID_ARGUMENT':
      return validationFailed(err.violations, err.message);
    case 'INVALID_REQUEST':
      return badRequest(err.message, err.violations);
    case 'ENDPOINT_NOT_ALLOWED':
      return problem(400, 'endpoint-not-allowed', 'Endpoint not allowed', err.message, {
        errors: [{ in: 'body', path: err.path, message: `${err.reason} (${err.code})` }],
      });
    case 'CONFLICT':
      return conflict(err.message);
  }
}

/** A domain error as its problem; any other error unchanged. */
export function asProblem(err: unknown): unknown {
  return isDomainError(err) ? problemOf(err) : err;
}
