import { status } from '@grpc/grpc-js';
import pino from 'pino';
import type { ApiKeyVerifier } from '../pipeline/shared/auth/api-key-auth';
import { failCall, type GrpcCallContext } from '../pipeline/shared/grpc/server.grpc';
import { statusDetailsOf } from '../pipeline/shared/grpc/status';
import { isProblemError, type Problem, ProblemError } from '../pipeline/shared/http/problem';
import {
  ConflictError,
  type DomainError,
  EndpointNotAllowedError,
  InvalidArgumentError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
} from './errors';
import { asProblem, problemOf } from './errors.http';

const TYPE = 'https://integration-hub.dev/problems/';
/** The gRPC call context of the subscription-api's server: domain errors mapped by `asProblem`. */
const grpcCtx = (log: GrpcCallContext['log']): GrpcCallContext => ({
  verifier: {} as ApiKeyVerifier,
  log,
  mapError: asProblem,
});
type Case = [DomainError, Problem, status, string, string[]];

describe('domain errors as problems (REST) and statuses (gRPC)', () => {
  // Each error, the problem the REST routes answer, and the gRPC status, ErrorInfo reason and field violations (proto
  // field names) of the same problem.
  const cases: Case[] = [
    [
      new NotFoundError('subscription', 'sub-9'),
      { status: 404, type: `${TYPE}not-found`, title: 'Not found', detail: 'subscription "sub-9" not found' },
      status.NOT_FOUND,
      'NOT_FOUND',
      [],
    ],
    [
      new PermissionDeniedError('managing event types requires an operator API key'),
      {
        status: 403,
        type: `${TYPE}forbidden`,
        title: 'Forbidden',
        detail: 'managing event types requires an operator API key',
      },
      status.PERMISSION_DENIED,
      'FORBIDDEN',
      [],
    ],
    [
      new InvalidArgumentError([{ in: 'body', path: 'tenantId', message: 'required for operator keys' }]),
      {
        status: 400,
        type: `${TYPE}validation-error`,
        title: 'Validation failed',
        detail: 'The request does not match the schema',
        errors: [{ in: 'body', path: 'tenantId', message: 'required for operator keys' }],
      },
      status.INVALID_ARGUMENT,
      'VALIDATION_ERROR',
      ['tenant_id'],
    ],
    [
      new InvalidRequestError('custom header "X-Key" collides with the API-key auth header', [
        { in: 'body', path: 'customHeaders.X-Key', message: 'also used as auth.headerName' },
      ]),
      {
        status: 400,
        type: `${TYPE}bad-request`,
        title: 'Bad request',
        detail: 'custom header "X-Key" collides with the API-key auth header',
        errors: [{ in: 'body', path: 'customHeaders.X-Key', message: 'also used as auth.headerName' }],
      },
      status.INVALID_ARGUMENT,
      'BAD_REQUEST',
      ['custom_headers.X-Key'],
    ],
    [
      new EndpointNotAllowedError('auth.tokenUrl', 'private address', 'URL.BLOCKED_ADDRESS'),
      {
        status: 400,
        type: `${TYPE}endpoint-not-allowed`,
        title: 'Endpoint not allowed',
        detail: 'auth.tokenUrl: private address (URL.BLOCKED_ADDRESS)',
        errors: [{ in: 'body', path: 'auth.tokenUrl', message: 'private address (URL.BLOCKED_ADDRESS)' }],
      },
      status.INVALID_ARGUMENT,
      'ENDPOINT_NOT_ALLOWED',
      ['auth.token_url'],
    ],
    [
      new ConflictError('event type "user.created" already exists'),
      {
        status: 409,
        type: `${TYPE}conflict`,
        title: 'Conflict',
        detail: 'event type "user.created" already exists',
      },
      status.ALREADY_EXISTS,
      'CONFLICT',
      [],
    ],
  ];
  it.each(cases.map((c) => [c[0].name, ...c] as const))('%s', (_name, err, expected, code, reason, fields) => {
    const p = problemOf(err);
    expect(p).toBeInstanceOf(ProblemError);
    expect(p.problem).toEqual(expected);
    expect(p.statusCode).toBe(expected.status);

    const log = { error: jest.fn() };
    const answer = failCall(grpcCtx(log as never), 'M', err);
    expect(answer.code).toBe(code);
    expect(answer.details).toBe(expected.detail);
    const details = statusDetailsOf(answer as never);
    expect(details.errorInfo?.reason).toBe(reason);
    // Field violations travel with INVALID_ARGUMENT under their proto (snake_case) names.
    expect(details.badRequest?.fieldViolations.map((v) => v.field) ?? []).toEqual(fields);
    expect(details.badRequest?.fieldViolations.map((v) => v.description) ?? []).toEqual(
      (expected.errors ?? []).map((e) => e.message),
    );
    // A refusal is an answer, not a failure: nothing is logged as an error.
    expect(log.error).not.toHaveBeenCalled();
  });

  it('leaves every other error as it is: a problem stays the same problem, a bug stays a bug (INTERNAL, logged)', () => {
    const bug = new Error('connection terminated');
    expect(asProblem(bug)).toBe(bug);
    const problem = problemOf(new NotFoundError('event type'));
    expect(asProblem(problem)).toBe(problem);
    expect(isProblemError(asProblem(new NotFoundError('event type')))).toBe(true);

    const log = pino({ level: 'silent' });
    const spy = jest.spyOn(log, 'error');
    const answer = failCall(grpcCtx(log), 'M', bug);
    expect(answer.code).toBe(status.INTERNAL);
    expect(answer.details).toBe('internal error; see the server log');
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('without a mapError the gRPC edge does not know domain errors (INTERNAL): the server must set it', () => {
    const log = pino({ level: 'silent' });
    expect(failCall({ ...grpcCtx(log), mapError: undefined }, 'M', new NotFoundError('x')).code).toBe(status.INTERNAL);
  });
});
