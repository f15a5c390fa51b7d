/**
 * The console's own API, behind the same API-key auth as every operator route (register inside that scope):
 *
 *   GET  /console/api/session                              who the key is: role and tenant (no secret)
 *   GET  /console/api/subscriptions                        ┐
 *   GET  /console/api/subscriptions/{id}                   │ forwarded to the subscription-api's
 *   POST /console/api/subscriptions/{id}/pause|resume      │ /v1/subscriptions… with the caller's key
 *   POST /console/api/subscriptions/{id}/rotate-secret     ┘
 *
 * Why a forwarding route and not CORS on the subscription-api: the console stays one origin, so its CSP can say
 * `connect-src 'self'` and the key never goes to a second origin from the browser; the subscription-api needs no
 * CORS policy (nor a list of console origins to keep right). Only the five calls above are forwarded, nothing else
 * of that API is reachable through here. Tenant scoping stays where it is enforced today: the subscription-api
 * sees the caller's own key and answers as it would to the caller (404 for another tenant's subscription).
 */
import { request } from 'undici';
import { z } from 'zod';
import { principalOf } from '../../shared/auth/api-key-auth';
import type { HubApp } from '../../shared/http/create-app';
import { PROBLEM_CONTENT_TYPE, problem, serviceUnavailable } from '../../shared/http/problem';

const idParams = z.object({ id: z.string().min(1).max(64) });
const FORWARDED_QUERY = /^[A-Za-z0-9_-]{1,40}$/;

export interface ConsoleApiDeps {
  /** SUBSCRIPTION_API_URL: the subscription-api's base URL; unset, the subscription pages answer 503. */
  subscriptionApiUrl?: string;
  /** Bound on one forwarded call. */
  timeoutMs?: number;
}

export function registerConsoleApi(api: HubApp, deps: ConsoleApiDeps): void {
  const tags = ['console'];
  api.get(
    '/console/api/session',
    {
      schema: {
        tags,
        summary: 'The signed-in key: role, and tenant for tenant keys (what the console shows and may switch)',
        response: {
          200: z.object({
            keyId: z.string(),
            name: z.string().nullable(),
            role: z.enum(['OPERATOR', 'TENANT']),
            tenantId: z.string().nullable(),
          }),
        },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return { keyId: p.keyId, name: p.name ?? null, role: p.role, tenantId: p.tenantId ?? null };
    },
  );

  const forward = async (
    req: Parameters<typeof principalOf>[0],
    reply: import('fastify').FastifyReply,
    method: 'GET' | 'POST',
    path: string,
  ) => {
    if (!deps.subscriptionApiUrl)
      throw serviceUnavailable(
        'the console cannot reach the subscription-api: set SUBSCRIPTION_API_URL on the dlt-processor (the launcher does)',
      );
    const url = new URL(path, deps.subscriptionApiUrl);
    const query = req.query as Record<string, unknown>;
    for (const [k, v] of Object.entries(query ?? {}))
      if (FORWARDED_QUERY.test(k) && typeof v === 'string') url.searchParams.set(k, v);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers: {
          // The caller's own key: the subscription-api scopes the answer to it.
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          ...(typeof req.headers['x-api-key'] === 'string' ? { 'x-api-key': req.headers['x-api-key'] } : {}),
          'x-request-id': req.id,
          accept: 'application/json',
        },
        headersTimeout: deps.timeoutMs ?? 10_000,
        bodyTimeout: deps.timeoutMs ?? 10_000,
      });
    } catch (err) {
      req.log.info({ err: (err as Error).message, url: url.origin }, 'subscription-api unreachable');
      throw problem(
        502,
        'bad-gateway',
        'Bad gateway',
        `the subscription-api at ${url.origin} did not answer (${(err as Error).message}): check that it is running`,
      );
    }
    const body = await res.body.text();
    const type = res.headers['content-type'];
    return reply
      .code(res.statusCode)
      .header('content-type', typeof type === 'string' ? type : PROBLEM_CONTENT_TYPE)
      .header('cache-control', 'no-store')
      .send(body);
  };

  api.get(
    '/console/api/subscriptions',
    { schema: { tags, summary: 'GET /v1/subscriptions of the subscription-api, with the caller’s key' } },
    async (req, reply) => forward(req, reply, 'GET', '/v1/subscriptions'),
  );
  api.get(
    '/console/api/subscriptions/:id',
    { schema: { tags, summary: 'GET /v1/subscriptions/{id} of the subscription-api', params: idParams } },
    async (req, reply) => forward(req, reply, 'GET', `/v1/subscriptions/${encodeURIComponent(req.params.id)}`),
  );
  api.post(
    '/console/api/subscriptions/:id/:action',
    {
      schema: {
        tags,
        summary: 'POST /v1/subscriptions/{id}/pause|resume|rotate-secret of the subscription-api',
        params: idParams.extend({ action: z.enum(['pause', 'resume', 'rotate-secret']) }),
      },
    },
    async (req, reply) =>
      forward(req, reply, 'POST', `/v1/subscriptions/${encodeURIComponent(req.params.id)}/${req.params.action}`),
  );
}
