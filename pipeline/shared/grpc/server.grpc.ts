/**
 * One way to run a gRPC server in every service (grpc-js):
 *
 *   services ─▶ caps (max message size both ways) ─▶ grpc.health.v1 (NOT_SERVING until `serving()`)
 *            ─▶ server reflection (v1 + v1alpha, from the same .proto files) ─▶ bind (TLS when configured)
 *
 * and the call wrappers every method goes through: deadline check ─▶ API key from `authorization: Bearer …`
 * metadata ─▶ per-key rate limit ─▶ a request that is not a valid protobuf message? INVALID_ARGUMENT ─▶ the use
 * case ─▶ its error as a ProblemError (`mapError`, for a use case with errors of its own) mapped to a status
 * (status.ts), one log line.
 *
 * Request bytes that do not decode: grpc-js answers INTERNAL ("Error deserializing request") when a
 * deserializer throws, which reads as a server fault. So every method's deserializer is wrapped: it returns a
 * `MalformedRequest` instead of throwing, and the wrappers answer INVALID_ARGUMENT with the decoder's reason
 * (a stream acks that one message as INVALID_ARGUMENT and goes on).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type handleUnaryCall,
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { keyFromHeaders, type Principal } from '../auth/api-key';
import type { ApiKeyVerifier } from '../auth/api-key-auth';
import type { RateLimiter } from '../auth/rate-limiter';
import { errorMessage } from '../errors';
import { isProblemError, tooManyRequests, unauthorized, validationFailed } from '../http/problem';
import type { Logger } from '../logging/logger';
import { type FieldPathMapper, grpcErrorOf } from './status';

export interface GrpcServiceBinding {
  /** Fully qualified service name, e.g. `integrationhub.v1.SubscriptionService` (health and reflection). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface GrpcServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** PEM files; both set = TLS, neither = plaintext. */
  tls?: { certFile: string; keyFile: string };
  /** Cap on received and sent messages (grpc-js answers RESOURCE_EXHAUSTED above it). */
  maxMessageBytes: number;
  services: GrpcServiceBinding[];
  /** The .proto files (relative to schemas/proto) that declare `services`, for server reflection. */
  protoFiles: string[];
  log: Logger;
}

export interface GrpcServer {
  port: number;
  /** `host:port` to dial. */
  address: string;
  tls: boolean;
  /** Health reports SERVING from now on (call once the service can answer). */
  serving(): void;
  /** Stops accepting; in-flight calls get `graceMs` to finish, then are cancelled. */
  close(graceMs?: number): Promise<void>;
}

/** The directory holding `integrationhub/v1/*.proto` (from the sources or from dist/). */
export function protoRoot(): string {
  for (const up of ['../../..', '../../../..']) {
    const dir = resolve(__dirname, up, 'schemas/proto');
    if (existsSync(join(dir, 'integrationhub/v1'))) return dir;
  }
  throw new Error(`schemas/proto not found above ${__dirname}; run from the repository (or copy schemas/proto)`);
}

/** What a method's handler receives instead of its request when the bytes are not a valid message. */
export class MalformedRequest {
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {}
}

export const isMalformed = (req: unknown): req is MalformedRequest => req instanceof MalformedRequest;

/** The answer to a MalformedRequest: INVALID_ARGUMENT, one violation for the whole message. */
export function malformedRequest(req: MalformedRequest) {
  const message = `the request is not a valid protobuf message for ${req.method} (${req.reason})`;
  return validationFailed([{ path: '', message }], `Malformed request: ${message}`);
}

/** The definition with deserializers that return a MalformedRequest instead of throwing (see the top). */
export function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, m]) => [
      name,
      {
        ...m,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return m.requestDeserialize(bytes);
          } catch (err) {
            return new MalformedRequest(m.path, errorMessage(err));
          }
        },
      },
    ]),
  );
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
  });
  for (const s of opts.services) server.addService(tolerantDefinition(s.definition), s.implementation);

  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    ...Object.fromEntries(opts.services.map((s) => [s.name, 'NOT_SERVING' as const])),
  });
  health.addToServer(server);

  const root = protoRoot();
  // keepCase: the descriptors reflection serves name fields as the .proto does (`source_service`), which is what
  // grpcurl / Postman accept in JSON; proto-loader's default would camelCase them.
  const packageDefinition = loadSync(opts.protoFiles, { includeDirs: [root], keepCase: true });
  new ReflectionService(packageDefinition, { services: opts.services.map((s) => s.name) }).addToServer(server);

  const credentials = opts.tls
    ? ServerCredentials.createSsl(
        null,
        [{ cert_chain: readFileSync(opts.tls.certFile), private_key: readFileSync(opts.tls.keyFile) }],
        false,
      )
    : ServerCredentials.createInsecure();
  const bindHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync(`${bindHost}:${opts.port}`, credentials, (err, p) => (err ? rej(err) : res(p))),
  );
  const dialHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : bindHost;
  return {
    port,
    address: `${dialHost}:${port}`,
    tls: Boolean(opts.tls),
    serving() {
      health.setStatus('', 'SERVING');
      for (const s of opts.services) health.setStatus(s.name, 'SERVING');
    },
    close(graceMs = 5_000) {
      health.setStatus('', 'NOT_SERVING');
      return new Promise<void>((res) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          res();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          res();
        });
      });
    },
  };
}

// ----- calls

export interface GrpcCallContext {
  verifier: ApiKeyVerifier;
  /** Per-key budget (the REST RATE_LIMIT_PER_MINUTE); omit to disable. */
  limiter?: RateLimiter;
  log: Logger;
  /**
   * A use case's own errors as ProblemErrors, before they become a status (the subscription-api's domain errors,
   * subscription-api/errors.http.ts); anything it does not know it returns unchanged. Unset: errors as thrown.
   */
  mapError?: (err: unknown) => unknown;
}

const first = (md: Metadata, key: string) => {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
};

/** The caller's principal from its metadata, or a 401/429 ProblemError. */
export async function authenticate(ctx: GrpcCallContext, md: Metadata): Promise<Principal> {
  const authorization = first(md, 'authorization');
  const key = keyFromHeaders(authorization, first(md, 'x-api-key'));
  if (!key) {
    throw unauthorized(
      authorization
        ? 'Send the metadata "authorization: Bearer <api key>"'
        : 'An API key is required (metadata "authorization: Bearer <key>")',
    );
  }
  if (key.length > 512) throw unauthorized('Invalid API key');
  const principal = await ctx.verifier.verify(key);
  if (!principal) throw unauthorized('Invalid or revoked API key');
  const budget = ctx.limiter?.take(principal.keyId);
  if (budget && !budget.ok) throw tooManyRequests(budget.retryAfterSeconds);
  return principal;
}

/** Milliseconds left before the call's deadline (Infinity when it has none). */
export function timeLeft(call: { getDeadline(): Date | number }): number {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) ? at - Date.now() : Number.POSITIVE_INFINITY;
}

export function deadlineExceeded() {
  return { code: status.DEADLINE_EXCEEDED, details: 'the deadline passed before the call was handled' };
}

/** Logs an unexpected error (ProblemErrors are answers, not failures) and maps it to a status. */
export function failCall(ctx: GrpcCallContext, method: string, err: unknown, fieldPath?: FieldPathMapper) {
  const mapped = ctx.mapError ? ctx.mapError(err) : err;
  if (!isProblemError(mapped)) ctx.log.error({ method, err: errorMessage(err) }, 'gRPC call failed unexpectedly');
  return grpcErrorOf(mapped, fieldPath);
}

/**
 * A unary method: authenticated, rate limited, deadline honoured (a call whose deadline already passed is not
 * started; a call cancelled meanwhile gets no answer), errors mapped. `fieldPath` maps field-violation paths of
 * the shared validation to this request's proto field names.
 */
export function unary<Req, Res>(
  ctx: GrpcCallContext,
  method: string,
  fn: (principal: Principal, req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  fieldPath?: (req: Req) => FieldPathMapper,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const started = Date.now();
    const done = (code: status) =>
      ctx.log.debug({ method, code: status[code], durationMs: Date.now() - started }, 'gRPC call');
    if (timeLeft(call) <= 0) {
      done(status.DEADLINE_EXCEEDED);
      callback(deadlineExceeded());
      return;
    }
    const malformed = isMalformed(call.request);
    (async () => {
      const principal = await authenticate(ctx, call.metadata);
      if (isMalformed(call.request)) throw malformedRequest(call.request);
      return fn(principal, call.request, call);
    })().then(
      (res) => {
        done(status.OK);
        if (!call.cancelled) callback(null, res);
      },
      (err) => {
        const e = failCall(ctx, method, err, malformed ? undefined : fieldPath?.(call.request));
        done(e.code ?? status.INTERNAL);
        if (!call.cancelled) callback(e);
      },
    );
  };
}
