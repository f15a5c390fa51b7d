/**
 * The HTTP kit every service's API is built on: fastify 5 with zod schemas (validation, serialization, OpenAPI),
 * RFC 9457 problem+json for every error, request ids, redacted logging, /healthz, /readyz and /metrics.
 *
 *   const app = await createApp({ name: 'subscription-api', logger, registry, ready: () => directory.isReady() });
 *   app.get('/v1/things/:id', { schema: { params: z.object({ id: z.string() }) } }, async (req) => ...);
 *   await app.ready();   // or app.listen({ port: 0 })
 *
 * Routes throw `ProblemError`s (see problem.ts); framework errors are mapped here:
 * validation -> 400 with `errors[{in, path, message}]`, malformed/empty JSON -> 400, body too large -> 413,
 * unsupported content type -> 415, unknown route -> 404, path parameter too long -> 414, malformed URL -> 400,
 * anything unexpected -> 500 without internals. Errors fastify answers before routing (`frameworkErrors`) and
 * malformed HTTP it answers on the socket (`clientErrorHandler`: 400, 408, 431) are problem+json too.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { Histogram, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger';
import {
  type FieldError,
  isProblemError,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type Problem,
  problem,
  serviceUnavailable,
} from './problem';

export type HubApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface ReadinessResult {
  ready: boolean;
  /** Shown in the /readyz body (no secrets). */
  details?: Record<string, unknown>;
}

export interface CreateAppOptions {
  /** Service name: OpenAPI title and metric label. */
  name: string;
  version?: string;
  description?: string;
  logger: Logger;
  /** Maximum request body in bytes (413 above). Default 1 MiB. */
  bodyLimit?: number;
  /** Prometheus registry served at /metrics; an HTTP request histogram is registered in it. */
  registry?: Registry;
  /** Readiness: /readyz answers 200 when true, 503 problem otherwise. Default: always ready. */
  ready?: () => boolean | ReadinessResult | Promise<boolean | ReadinessResult>;
  /** Serve the OpenAPI document at /openapi.json and Swagger UI at /docs. Default true. */
  docs?: boolean;
  /** Extra OpenAPI components.securitySchemes etc. */
  openapiSecurity?: boolean;
  trustProxy?: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Longest path parameter (fastify's default, made explicit): ids are UUIDs or short slugs; longer -> 414. */
export const MAX_PARAM_LENGTH = 100;

/** Query parameters whose values are credentials (`?apiKey=`, `?token=`, `?access_token=`, `?sig=` …). */
const SECRET_PARAM = /key|token|secret|password|passwd|auth|signature|^sig$|credential/i;

/** The URL with the values of credential-like query parameters replaced, for logs. */
export function maskQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((kv) => {
      const eq = kv.indexOf('=');
      const name = eq < 0 ? kv : kv.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // a malformed escape: judge the raw name
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : kv;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/** fastify's request logging, with the URL's credential-like query parameters masked (maskQuery). */
class MaskingLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.info(
      {
        req: {
          method: request.method,
          url: maskQuery(request.url),
          host: request.headers.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        },
      },
      'incoming request',
    );
  }
}

export async function createApp(opts: CreateAppOptions): Promise<HubApp> {
  const fastify = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    // "incoming request" with credentials in the query string masked (a client that puts its key in the URL must not
    // put it in our logs).
    logController: new MaskingLogController(),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    trustProxy: opts.trustProxy ?? false,
    // genReqId reads x-request-id itself (fastify would trust any value given requestIdHeader).
    requestIdHeader: false,
    // Honour a caller's x-request-id only when it is a sane token; otherwise mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    ajv: undefined,
    // Errors found while routing (an over-long path parameter, a malformed URL) never reach the error handler:
    // fastify would answer its own JSON. Same problem mapping instead.
    frameworkErrors: (err, req, reply) => {
      reply.header('x-request-id', req.id);
      void sendProblem(err, req, reply);
    },
    clientErrorHandler,
  });
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  installJsonParsers(app);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  if (opts.registry) installHttpMetrics(app, opts.registry, opts.name);

  app.setErrorHandler((err: FastifyError, req, reply) => sendProblem(err, req, reply));

  app.setNotFoundHandler((req, reply) => {
    const p: Problem = {
      type: `${PROBLEM_TYPE_BASE}not-found`,
      title: 'Not found',
      status: 404,
      detail: `No route ${req.method} ${req.url.split('?')[0]}`,
      instance: req.url.split('?')[0],
    };
    return reply.code(404).header('content-type', PROBLEM_CONTENT_TYPE).send(p);
  });

  if (opts.docs !== false) {
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: opts.name, version: opts.version ?? '1.0.0', description: opts.description },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'API key: `Authorization: Bearer ihk_...`' },
            apiKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          },
        },
        security: opts.openapiSecurity === false ? [] : [{ bearer: [] }, { apiKeyHeader: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  }

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const raw = opts.ready ? await opts.ready() : true;
    const result: ReadinessResult = typeof raw === 'boolean' ? { ready: raw } : raw;
    if (!result.ready) {
      const p = serviceUnavailable('not ready').problem;
      return reply
        .code(503)
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .send({ ...p, ...(result.details ? { details: result.details } : {}) });
    }
    return { status: 'ready', ...(result.details ? { details: result.details } : {}) };
  });
  if (opts.registry) {
    const registry = opts.registry;
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
      reply.header('content-type', registry.contentType).send(await registry.metrics()),
    );
  }
  return app;
}

function sendProblem(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const p = toProblem(err, req);
  if (p.status >= 500) req.log.error({ err }, 'request failed');
  else req.log.info({ status: p.status, problem: p.type, detail: p.detail }, 'request rejected');
  if (isProblemError(err)) for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return reply.code(p.status).header('content-type', PROBLEM_CONTENT_TYPE).send(p);
}

/**
 * Requests Node's HTTP parser rejects before fastify sees them (headers too large, a timeout, malformed HTTP):
 * fastify's default writes its own JSON on the socket; this writes a problem instead, then closes the connection.
 */
function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, slug, detail] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request-timeout', 'The request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers-too-large', 'The request headers exceed the maximum allowed size']
        : [400, 'bad-request', 'The request is not valid HTTP'];
  const title = status === 400 ? 'Bad request' : (STATUS_CODES[status] ?? 'Bad request');
  const body = JSON.stringify(problem(status, slug, title, detail).problem);
  this.log.debug({ err: err.message, code: err.code, status }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * JSON bodies: the default secure parser (prototype-poisoning protection), but an empty body on a bodyless
 * command (`POST .../pause` with a JSON content type) is treated as no body instead of an error; routes that
 * need a body still fail validation with a precise message.
 */
function installJsonParsers(app: HubApp): void {
  const json = app.getDefaultJsonParser('error', 'error');
  const parser = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    json(req, body as string, done as never);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, parser);
}

function installHttpMetrics(app: HubApp, registry: Registry, service: string): void {
  const name = 'http_request_duration_seconds';
  const existing = registry.getSingleMetric(name) as Histogram<string> | undefined;
  const histogram =
    existing ??
    new Histogram({
      name,
      help: 'HTTP request duration by route and status',
      labelNames: ['service', 'method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  app.addHook('onResponse', async (req, reply) => {
    histogram.observe(
      {
        service,
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
}

/** Maps any error thrown in the request lifecycle to a problem body. */
export function toProblem(err: FastifyError, req: FastifyRequest): Problem {
  const instance = req.url.split('?')[0];
  if (isProblemError(err)) return { ...err.problem, instance };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const location = err.validationContext ?? 'body';
    const errors: FieldError[] = [];
    for (const v of err.validation) {
      const base = v.instancePath.replace(/^\//, '').split('/').filter(Boolean);
      const params = v.params as { keys?: string[] } | undefined;
      if (v.keyword === 'unrecognized_keys' && Array.isArray(params?.keys)) {
        for (const key of params.keys)
          errors.push({ in: location, path: [...base, key].join('.'), message: 'unknown field' });
      } else {
        errors.push({ in: location, path: base.join('.'), message: v.message ?? 'invalid' });
      }
    }
    return {
      type: `${PROBLEM_TYPE_BASE}validation-error`,
      title: 'Validation failed',
      status: 400,
      detail: `The request ${location} does not match the schema: ${errors
        .slice(0, 5)
        .map((e) => `${e.path || location}: ${e.message}`)
        .join('; ')}`,
      instance,
      errors,
    };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return {
        ...problem(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON').problem,
        instance,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { ...problem(400, 'bad-request', 'Bad request', 'The request body is empty').problem, instance };
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = req.routeOptions.bodyLimit ?? req.server.initialConfig.bodyLimit;
      const detail = `The request body exceeds the limit of ${limit} bytes`;
      return { ...problem(413, 'body-too-large', 'Content too large', detail).problem, instance };
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        ...problem(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          `Content-Type "${req.headers['content-type'] ?? ''}" is not supported; send application/json`,
        ).problem,
        instance,
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        ...problem(
          414,
          'uri-too-long',
          'URI too long',
          `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`,
        ).problem,
        instance,
      };
    case 'FST_ERR_BAD_URL':
      return {
        ...problem(400, 'bad-request', 'Bad request', 'The URL is not valid (malformed percent-encoding)').problem,
        instance,
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        ...problem(400, 'bad-request', 'Bad request', 'Content-Length does not match the body').problem,
        instance,
      };
  }
  const status =
    typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  if (status >= 500) {
    return {
      type: `${PROBLEM_TYPE_BASE}internal`,
      title: 'Internal server error',
      status: 500,
      detail: 'An unexpected error occurred',
      instance,
    };
  }
  return { type: `${PROBLEM_TYPE_BASE}bad-request`, title: 'Bad request', status, detail: err.message, instance };
}
