/**
 * `POST/GET/DELETE /v1/api-keys` (operator keys only). The created key is in the POST response once; the store
 * holds only its hash. Register inside a scope that already has `apiKeyAuth`.
 */
import { z } from 'zod';
import { actorOf } from '../change-audit/change-audit';
import type { HubApp } from '../http/create-app';
import { badRequest, notFound } from '../http/problem';
import { generateApiKey, hashApiKey, publicPrefix, ROLES } from './api-key';
import { type ApiKeyVerifier, principalOf, requireRole } from './api-key-auth';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store';

const tenantIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

const createBody = z
  .object({
    name: z.string().min(1).max(200),
    role: z.enum(ROLES),
    tenantId: tenantIdSchema.optional(),
  })
  .strict();

const apiKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    tenantId: z.string().nullable(),
    prefix: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

const createdView = apiKeyView.extend({ key: z.string().describe('The API key. Shown only in this response.') });

function view(r: ApiKeyRecord): z.infer<typeof apiKeyView> {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    tenantId: r.tenantId,
    prefix: r.prefix,
    createdAt: r.createdAt.toISOString(),
    revokedAt: r.revokedAt ? r.revokedAt.toISOString() : null,
  };
}

export function registerApiKeyRoutes(api: HubApp, deps: { store: ApiKeyStore; verifier?: ApiKeyVerifier }): void {
  const operatorOnly = requireRole('OPERATOR');

  api.post(
    '/v1/api-keys',
    {
      preHandler: operatorOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (shown once)',
        body: createBody,
        response: { 201: createdView },
      },
    },
    async (req, reply) => {
      const { name, role, tenantId } = req.body;
      if (role === 'TENANT' && !tenantId)
        throw badRequest('a TENANT key needs a tenantId', [
          { in: 'body', path: 'tenantId', message: 'required for role TENANT' },
        ]);
      if (role === 'OPERATOR' && tenantId)
        throw badRequest('an OPERATOR key spans all tenants', [
          { in: 'body', path: 'tenantId', message: 'not allowed for role OPERATOR' },
        ]);
      const key = generateApiKey();
      const rec = await deps.store.create(
        {
          name,
          role,
          tenantId: role === 'TENANT' ? tenantId! : null,
          prefix: publicPrefix(key),
          hash: hashApiKey(key),
        },
        actorOf(principalOf(req), req.id),
      );
      req.log.info({ apiKeyId: rec.id, role, tenantId: rec.tenantId }, 'api key created');
      return reply.code(201).send({ ...view(rec), key });
    },
  );

  api.get(
    '/v1/api-keys',
    {
      preHandler: operatorOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'List API keys',
        querystring: z
          .object({ tenantId: tenantIdSchema.optional(), includeRevoked: z.enum(['true', 'false']).optional() })
          .strict(),
        response: { 200: z.object({ items: z.array(apiKeyView) }) },
      },
    },
    async (req) => {
      const items = await deps.store.list({
        tenantId: req.query.tenantId,
        includeRevoked: req.query.includeRevoked === 'true',
      });
      return { items: items.map(view) };
    },
  );

  api.delete(
    '/v1/api-keys/:id',
    {
      preHandler: operatorOnly,
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 204: z.undefined() },
      },
    },
    async (req, reply) => {
      const rec = await deps.store.revoke(req.params.id, new Date(), actorOf(principalOf(req), req.id));
      if (!rec) throw notFound('API key', req.params.id);
      deps.verifier?.forget(rec.id);
      req.log.info({ apiKeyId: rec.id }, 'api key revoked');
      return reply.code(204).send();
    },
  );
}
