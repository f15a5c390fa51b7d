/**
 * RFC 9457 problem details. Routes throw a `ProblemError` (via the helpers below); the app's error handler turns
 * it, and every framework error, into an `application/problem+json` body.
 */
import { z } from 'zod';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://integration-hub.dev/problems/';

export interface FieldError {
  /** Where the field is: body, querystring, params, headers. */
  in?: string;
  /** Dotted path inside that location, e.g. `auth.password` or `customHeaders.X-Foo`; '' = the whole thing. */
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  /** Extension member for structured context (no secrets). */
  details?: Record<string, unknown>;
}

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ in: z.string().optional(), path: z.string(), message: z.string() })).optional(),
  })
  .loose()
  .meta({ id: 'Problem' });

export class ProblemError extends Error {
  readonly statusCode: number;
  readonly problem: Problem;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string>;

  constructor(problem: Problem, headers: Record<string, string> = {}) {
    super(problem.detail ?? problem.title);
    this.name = 'ProblemError';
    this.statusCode = problem.status;
    this.problem = problem;
    this.headers = headers;
  }
}

export function isProblemError(err: unknown): err is ProblemError {
  return err instanceof ProblemError;
}

export function problem(
  status: number,
  slug: string,
  title: string,
  detail?: string,
  extra: Pick<Problem, 'errors' | 'details'> = {},
): ProblemError {
  return new ProblemError({ type: PROBLEM_TYPE_BASE + slug, title, status, ...(detail ? { detail } : {}), ...extra });
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  problem(400, 'bad-request', 'Bad request', detail, errors ? { errors } : {});
export const validationFailed = (errors: FieldError[], detail = 'The request does not match the schema') =>
  problem(400, 'validation-error', 'Validation failed', detail, { errors });
export const unauthorized = (detail = 'A valid API key is required') =>
  problem(401, 'unauthorized', 'Unauthorized', detail);
export const forbidden = (detail: string) => problem(403, 'forbidden', 'Forbidden', detail);
export const notFound = (what: string, id?: string) =>
  problem(404, 'not-found', 'Not found', id === undefined ? `${what} not found` : `${what} "${id}" not found`);
export const conflict = (detail: string) => problem(409, 'conflict', 'Conflict', detail);
export const unprocessable = (detail: string, errors?: FieldError[]) =>
  problem(422, 'unprocessable', 'Unprocessable content', detail, errors ? { errors } : {});
export const tooManyRequests = (retryAfterSeconds: number) =>
  new ProblemError(
    {
      type: `${PROBLEM_TYPE_BASE}rate-limited`,
      title: 'Too many requests',
      status: 429,
      detail: `Rate limit exceeded; retry after ${retryAfterSeconds} s`,
    },
    { 'retry-after': String(retryAfterSeconds) },
  );
export const serviceUnavailable = (detail: string) => problem(503, 'unavailable', 'Service unavailable', detail);
