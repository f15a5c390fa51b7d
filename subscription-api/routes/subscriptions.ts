/** Subscription routes: CRUD, pause/resume, rotate-secret. Register inside a scope with `apiKeyAuth`. */
import { z } from 'zod';
import { principalOf } from '../../pipeline/shared/auth/api-key-auth';
import type { HubApp } from '../../pipeline/shared/http/create-app';
import {
  createdSubscriptionView,
  createSubscriptionBody,
  idParams,
  listSubscriptionsQuery,
  patchSubscriptionBody,
  rotatedSecretView,
  subscriptionPage,
  subscriptionView,
} from '../schemas';
import { type SubscriptionService, toSubscriptionView } from '../service';

const tags = ['subscriptions'];

export function registerSubscriptionRoutes(api: HubApp, service: SubscriptionService): void {
  api.post(
    '/v1/subscriptions',
    {
      schema: {
        tags,
        summary: 'Create a subscription (the signing secret is returned once)',
        body: createSubscriptionBody,
        response: { 201: createdSubscriptionView },
      },
    },
    async (req, reply) => {
      const { record, signingSecret } = await service.createSubscription(principalOf(req), req.body, req.id);
      req.log.info({ subscriptionId: record.id, tenantId: record.tenantId }, 'subscription created');
      return reply
        .code(201)
        .header('location', `/v1/subscriptions/${record.id}`)
        .send({
          ...toSubscriptionView(record),
          signingSecret,
        });
    },
  );

  api.get(
    '/v1/subscriptions',
    {
      schema: {
        tags,
        summary: 'List subscriptions (cursor pagination, filters)',
        querystring: listSubscriptionsQuery,
        response: { 200: subscriptionPage },
      },
    },
    async (req) => {
      const page = await service.listSubscriptions(principalOf(req), req.query);
      return { items: await service.views(page.items), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/v1/subscriptions/:id',
    { schema: { tags, summary: 'Get a subscription', params: idParams, response: { 200: subscriptionView } } },
    async (req) => service.view(await service.getSubscription(principalOf(req), req.params.id)),
  );

  api.patch(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        summary: 'Update a subscription (fields given are replaced; match is merged; null clears)',
        params: idParams,
        body: patchSubscriptionBody,
        response: { 200: subscriptionView },
      },
    },
    async (req) => {
      const record = await service.patchSubscription(principalOf(req), req.params.id, req.body, req.id);
      req.log.info({ subscriptionId: record.id, version: record.version }, 'subscription updated');
      return service.view(record);
    },
  );

  api.delete(
    '/v1/subscriptions/:id',
    { schema: { tags, summary: 'Delete a subscription', params: idParams, response: { 204: z.undefined() } } },
    async (req, reply) => {
      await service.deleteSubscription(principalOf(req), req.params.id, req.id);
      req.log.info({ subscriptionId: req.params.id }, 'subscription deleted');
      return reply.code(204).send();
    },
  );

  for (const [action, status] of [
    ['pause', 'PAUSED'],
    ['resume', 'ACTIVE'],
  ] as const) {
    api.post(
      `/v1/subscriptions/:id/${action}`,
      {
        schema: {
          tags,
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} deliveries`,
          params: idParams,
          response: { 200: subscriptionView },
        },
      },
      async (req) => {
        const record = await service.setStatus(principalOf(req), req.params.id, status, req.id);
        req.log.info({ subscriptionId: record.id, status }, `subscription ${action}d`);
        return service.view(record);
      },
    );
  }

  api.post(
    '/v1/subscriptions/:id/rotate-secret',
    {
      schema: {
        tags,
        summary: 'Issue a new signing secret; the previous one stays valid for the overlap window',
        params: idParams,
        response: { 200: rotatedSecretView },
      },
    },
    async (req) => {
      const { record, signingSecret, previousSecretExpiresAt } = await service.rotateSecret(
        principalOf(req),
        req.params.id,
        req.id,
      );
      req.log.info({ subscriptionId: record.id, previousSecretExpiresAt }, 'signing secret rotated');
      return { id: record.id, signingSecret, previousSecretExpiresAt, version: record.version };
    },
  );
}
