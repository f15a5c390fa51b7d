/**
 * GET /console and /console/<asset>: the operator console's files, public (the page itself holds no data; every
 * API call it makes carries the signed-in key). A strict Content-Security-Policy: scripts, styles and API calls
 * from this origin only, no inline script, no framing, no third-party anything.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HubApp } from '../../shared/http/create-app';
import { notFound, serviceUnavailable } from '../../shared/http/problem';
import { CONSOLE_INDEX, type ConsoleAssets } from './assets';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const acceptsGzip = (req: FastifyRequest) => /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));

export function registerConsoleStatic(app: HubApp, assets: ConsoleAssets | undefined): void {
  const send = (req: FastifyRequest, reply: FastifyReply, name: string) => {
    if (!assets)
      throw serviceUnavailable(
        'the operator console is not built: run `npm run build` (it bundles console/ into dist/console/), then restart the dlt-processor',
      );
    const asset = assets.get(name);
    if (!asset) throw notFound('console file', name);
    reply.headers(SECURITY_HEADERS).header('cache-control', asset.cacheControl).header('etag', asset.etag);
    reply.header('vary', 'accept-encoding');
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    reply.header('content-type', asset.contentType);
    if (acceptsGzip(req)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.body);
  };
  const hide = { hide: true };
  app.get('/console', { schema: hide }, async (req, reply) => send(req, reply, CONSOLE_INDEX));
  app.get(
    '/console/:file',
    { schema: { ...hide, params: z.object({ file: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/) }) } },
    async (req, reply) => send(req, reply, req.params.file),
  );
}
