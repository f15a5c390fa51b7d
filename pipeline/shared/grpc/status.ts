/**
 * Problem types -> gRPC status (the gRPC twin of `http/problem.ts`). Services throw the same `ProblemError`s
 * for REST and gRPC; this maps them at the edge:
 *
 *   400 / 413 / 415 / 422 ─▶ INVALID_ARGUMENT   + google.rpc.BadRequest (field violations)
 *   401 ─▶ UNAUTHENTICATED   403 ─▶ PERMISSION_DENIED   404 ─▶ NOT_FOUND   409 ─▶ ALREADY_EXISTS
 *   429 ─▶ RESOURCE_EXHAUSTED + google.rpc.RetryInfo   503 ─▶ UNAVAILABLE   anything else ─▶ INTERNAL (no detail)
 *
 * Every error carries a google.rpc.Status (with an ErrorInfo naming the problem type) in the
 * `grpc-status-details-bin` trailer, the convention grpcurl, Postman and the Google client libraries read.
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, RetryInfo } from '../../../schemas/proto/gen/google/rpc/error_details';
import { Status } from '../../../schemas/proto/gen/google/rpc/status';
import { type FieldError, PROBLEM_TYPE_BASE, type Problem, ProblemError } from '../http/problem';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const TYPE_URL = 'type.googleapis.com/';
const ERROR_DOMAIN = 'integration-hub.dev';

/** A field violation path as the request's proto field names see it (`match.event_type`). */
export type FieldPathMapper = (error: FieldError) => string;

/** `auth.clientSecret` -> `auth.client_secret`; segments that are not camelCase identifiers (map keys) stay. */
export function snakeCasePath(path: string): string {
  return path
    .split('.')
    .map((seg) => (/^[a-z][A-Za-z0-9]*$/.test(seg) ? seg.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : seg))
    .join('.');
}

export function grpcCodeOf(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
    case 413:
    case 415:
    case 422:
      return status.INVALID_ARGUMENT;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.NOT_FOUND;
    case 409:
      return status.ALREADY_EXISTS;
    case 429:
      return status.RESOURCE_EXHAUSTED;
    case 503:
      return status.UNAVAILABLE;
    default:
      return status.INTERNAL;
  }
}

/** The google.rpc.Status of a problem: its code, detail, and the details a client can act on. */
export function statusOfProblem(p: Problem, fieldPath: FieldPathMapper = (e) => snakeCasePath(e.path)): Status {
  const code = grpcCodeOf(p.status);
  const details: { typeUrl: string; value: Buffer }[] = [];
  const reason = p.type.startsWith(PROBLEM_TYPE_BASE) ? p.type.slice(PROBLEM_TYPE_BASE.length) : p.type;
  details.push({
    typeUrl: `${TYPE_URL}google.rpc.ErrorInfo`,
    value: Buffer.from(
      ErrorInfo.encode({
        reason: reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
        domain: ERROR_DOMAIN,
        metadata: {},
      }).finish(),
    ),
  });
  if (code === status.INVALID_ARGUMENT) {
    const violations = (p.errors ?? []).map((e) => ({ field: fieldPath(e), description: e.message }));
    details.push({
      typeUrl: `${TYPE_URL}google.rpc.BadRequest`,
      value: Buffer.from(BadRequest.encode({ fieldViolations: violations }).finish()),
    });
  }
  return { code, message: p.detail ?? p.title, details };
}

/** A ServiceError for `callback(err)` / `call.emit('error', err)`, details in the trailer. */
export function toServiceError(st: Status, retryAfterSeconds?: number): Partial<ServiceError> {
  const details = [...st.details];
  if (retryAfterSeconds !== undefined) {
    details.push({
      typeUrl: `${TYPE_URL}google.rpc.RetryInfo`,
      value: Buffer.from(RetryInfo.encode({ retryDelay: { seconds: retryAfterSeconds, nanos: 0 } }).finish()),
    });
  }
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(Status.encode({ ...st, details }).finish()));
  if (retryAfterSeconds !== undefined) metadata.set('retry-after', String(retryAfterSeconds));
  return { code: st.code, details: st.message, metadata };
}

/**
 * Any thrown error -> a ServiceError. ProblemErrors map by status; anything else is INTERNAL with a generic
 * message (the cause goes to the log, never to the caller).
 */
export function grpcErrorOf(err: unknown, fieldPath?: FieldPathMapper): Partial<ServiceError> {
  if (err instanceof ProblemError) {
    const retryAfter = err.headers['retry-after'];
    return toServiceError(
      statusOfProblem(err.problem, fieldPath),
      retryAfter !== undefined ? Number(retryAfter) : undefined,
    );
  }
  return toServiceError({ code: status.INTERNAL, message: 'internal error; see the server log', details: [] });
}

/** Decodes the google.rpc.Status of a received error (clients and tests). */
export function statusDetailsOf(err: { metadata?: Metadata }): {
  status?: Status;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
  errorInfo?: ErrorInfo;
} {
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return {};
  const st = Status.decode(raw);
  const find = (name: string) => st.details.find((d) => d.typeUrl === `${TYPE_URL}${name}`)?.value;
  const br = find('google.rpc.BadRequest');
  const ri = find('google.rpc.RetryInfo');
  const ei = find('google.rpc.ErrorInfo');
  return {
    status: st,
    ...(br ? { badRequest: BadRequest.decode(br) } : {}),
    ...(ri ? { retryInfo: RetryInfo.decode(ri) } : {}),
    ...(ei ? { errorInfo: ErrorInfo.decode(ei) } : {}),
  };
}
