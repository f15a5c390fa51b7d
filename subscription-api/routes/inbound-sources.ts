/** Inbound-source routes (issue 19): CRUD and rotate-secret. Register inside a scope with `apiKeyAuth`. */
import { z } from 'zod';
import { principalOf } from '../../pipeline/shared/auth/api-key-auth';
import type { HubApp } from '../../pipeline/shared/http/create-app';
import {
  createdInboundSourceView,
  createInboundSourceBody,
  inboundSourcePage,
  inboundSourceView,
  listInboundSourcesQuery,
  patchInboundSourceBody,
  rotatedInboundSecretView,
  rotateInboundSecretBody,
} from '../inbound-source-schemas';
import type { InboundSourceService } from '../inbound-sources';
import { idParams } from '../schemas';

const tags = ['inbound-sources'];

export function registerInboundSourceRoutes(api: HubApp, service: InboundSourceService): void {
  api.post(
    '/v1/inbound-sources',
    {
      schema: {
        tags,
        summary: 'Register a vendor that calls the hub (the secret is returned once; `url` is what the vendor calls)',
        body: createInboundSourceBody,
        response: { 201: createdInboundSourceView },
      },
    },
    async (req, reply) => {
      const { record, secret } = await service.create(principalOf(req), req.body, req.id);
      req.log.info({ inboundSourceId: record.id, tenantId: record.tenantId }, 'inbound source created');
      const view = service.view(record);
      return reply
        .code(201)
        .header('location', `/v1/inbound-sources/${record.id}`)
        .send({ ...view, secret: { ...view.secret, value: secret } });
    },
  );

  api.get(
    '/v1/inbound-sources',
    {
      schema: {
        tags,
        summary: 'List inbound sources (cursor pagination)',
        querystring: listInboundSourcesQuery,
        response: { 200: inboundSourcePage },
      },
    },
    async (req) => {
      const page = await service.list(principalOf(req), req.query);
      return { items: page.items.map(service.view), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/v1/inbound-sources/:id',
    { schema: { tags, summary: 'Get an inbound source', params: idParams, response: { 200: inboundSourceView } } },
    async (req) => service.view(await service.get(principalOf(req), req.params.id)),
  );

  api.patch(
    '/v1/inbound-sources/:id',
    {
      schema: {
        tags,
        summary: 'Update an inbound source (fields given are replaced; mapping is merged; the scheme stays)',
        params: idParams,
        body: patchInboundSourceBody,
        response: { 200: inboundSourceView },
      },
    },
    async (req) => {
      const record = await service.patch(principalOf(req), req.params.id, req.body, req.id);
      req.log.info({ inboundSourceId: record.id, version: record.version }, 'inbound source updated');
      return service.view(record);
    },
  );

  api.delete(
    '/v1/inbound-sources/:id',
    { schema: { tags, summary: 'Delete an inbound source', params: idParams, response: { 204: z.undefined() } } },
    async (req, reply) => {
      await service.delete(principalOf(req), req.params.id, req.id);
      req.log.info({ inboundSourceId: req.params.id }, 'inbound source deleted');
      return reply.code(204).send();
    },
  );

  api.post(
    '/v1/inbound-sources/:id/rotate-secret',
    {
      schema: {
        tags,
        summary: 'Set a new secret (given, or generated); the previous one is still accepted for the overlap window',
        params: idParams,
        body: rotateInboundSecretBody,
        response: { 200: rotatedInboundSecretView },
      },
    },
    async (req) => {
      const { record, secret, previousSecretExpiresAt } = await service.rotateSecret(
        principalOf(req),
        req.params.id,
        req.body?.secret,
        req.id,
      );
      req.log.info({ inboundSourceId: record.id, previousSecretExpiresAt }, 'inbound source secret rotated');
      return { id: record.id, secret, previousSecretExpiresAt, version: record.version };
    },
  );
}
