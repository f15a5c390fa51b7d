/** Event type catalogue routes. Every key reads; operator keys write. */
import { z } from 'zod';
import { principalOf } from '../../pipeline/shared/auth/api-key-auth';
import type { HubApp } from '../../pipeline/shared/http/create-app';
import { createEventTypeBody, eventTypeView, listEventTypesQuery, patchEventTypeBody } from '../schemas';
import { type SubscriptionService, toEventTypeView } from '../service';

const tags = ['event-types'];
const params = z.object({ idOrName: z.string().min(1).max(128) }).strict();

export function registerEventTypeRoutes(api: HubApp, service: SubscriptionService): void {
  api.post(
    '/v1/event-types',
    {
      schema: { tags, summary: 'Register an event type', body: createEventTypeBody, response: { 201: eventTypeView } },
    },
    async (req, reply) => {
      const rec = await service.createEventType(principalOf(req), req.body, req.id);
      return reply.code(201).header('location', `/v1/event-types/${rec.id}`).send(toEventTypeView(rec));
    },
  );

  api.get(
    '/v1/event-types',
    {
      schema: {
        tags,
        summary: 'List event types',
        querystring: listEventTypesQuery,
        response: { 200: z.object({ items: z.array(eventTypeView) }) },
      },
    },
    async (req) => {
      const deprecated = req.query.deprecated === undefined ? undefined : req.query.deprecated === 'true';
      const items = await service.listEventTypes({ domain: req.query.domain, deprecated });
      return { items: items.map(toEventTypeView) };
    },
  );

  api.get(
    '/v1/event-types/:idOrName',
    { schema: { tags, summary: 'Get an event type by id or name', params, response: { 200: eventTypeView } } },
    async (req) => toEventTypeView(await service.getEventType(req.params.idOrName)),
  );

  api.patch(
    '/v1/event-types/:idOrName',
    {
      schema: {
        tags,
        summary: 'Update an event type',
        params,
        body: patchEventTypeBody,
        response: { 200: eventTypeView },
      },
    },
    async (req) =>
      toEventTypeView(await service.patchEventType(principalOf(req), req.params.idOrName, req.body, req.id)),
  );

  api.delete(
    '/v1/event-types/:idOrName',
    { schema: { tags, summary: 'Delete an event type', params, response: { 204: z.undefined() } } },
    async (req, reply) => {
      await service.deleteEventType(principalOf(req), req.params.idOrName, req.id);
      return reply.code(204).send();
    },
  );
}
