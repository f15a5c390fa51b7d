/**
 * EventTypeService over gRPC: the REST schemas validate, the same use cases run (service.ts). The resource name
 * is `eventTypes/{id or event type name}`; the event type's own name is the `event_type` field.
 */

import { type GrpcCallContext, unary } from '../../pipeline/shared/grpc/server.grpc';
import { snakeCasePath } from '../../pipeline/shared/grpc/status';
import { given, idOfName, PROTO_PATH, parseAs, toTimestamp } from '../../pipeline/shared/grpc/validate';
import type { FieldError } from '../../pipeline/shared/http/problem';
import { validationFailed } from '../../pipeline/shared/http/problem';
import {
  type EventType,
  type EventTypeServiceServer,
  EventTypeServiceService,
} from '../../schemas/proto/gen/integrationhub/v1/event_type';
import type { EventTypeRecord } from '../ports';
import { createEventTypeBody, listEventTypesQuery, patchEventTypeBody } from '../schemas';
import type { SubscriptionService } from '../service';

const COLLECTION = 'eventTypes';

export function toProtoEventType(r: EventTypeRecord): EventType {
  return {
    name: `${COLLECTION}/${r.id}`,
    id: r.id,
    eventType: r.name,
    ...(r.description !== null ? { description: r.description } : {}),
    domain: r.domain,
    ...(r.schemaRef !== null ? { schemaRef: r.schemaRef } : {}),
    deprecated: r.deprecated,
    createTime: toTimestamp(r.createdAt.toISOString()),
    updateTime: toTimestamp(r.updatedAt.toISOString()),
  };
}

/** REST paths -> `event_type.<proto field>` (the REST `name` is the proto `event_type`). */
const eventTypePath = (e: FieldError) =>
  e.in === PROTO_PATH ? e.path : `event_type.${e.path === 'name' ? 'event_type' : snakeCasePath(e.path)}`;

const PATCHABLE: Record<string, (t: EventType) => [string, unknown]> = {
  description: (t) => ['description', t.description ?? null],
  domain: (t) => ['domain', t.domain],
  schema_ref: (t) => ['schemaRef', t.schemaRef ?? null],
  deprecated: (t) => ['deprecated', t.deprecated],
};

export function eventTypeServiceImpl(ctx: GrpcCallContext, service: SubscriptionService): EventTypeServiceServer {
  const required = (t: EventType | undefined): EventType => {
    if (!t) throw validationFailed([{ in: PROTO_PATH, path: 'event_type', message: 'required' }]);
    return t;
  };
  return {
    createEventType: unary(
      ctx,
      'CreateEventType',
      async (p, req) => {
        const t = required(req.eventType);
        const input = parseAs(
          createEventTypeBody,
          Object.fromEntries(
            Object.entries({
              name: t.eventType,
              description: t.description,
              domain: t.domain,
              schemaRef: t.schemaRef,
              deprecated: t.deprecated,
            }).filter(([, v]) => v !== undefined),
          ),
        );
        return toProtoEventType(await service.createEventType(p, input));
      },
      () => eventTypePath,
    ),

    getEventType: unary(ctx, 'GetEventType', async (_p, req) =>
      toProtoEventType(await service.getEventType(idOfName(req.name, COLLECTION))),
    ),

    listEventTypes: unary(ctx, 'ListEventTypes', async (_p, req) => {
      const q = parseAs(
        listEventTypesQuery,
        Object.fromEntries(
          Object.entries({
            domain: given(req.domain),
            deprecated: req.deprecated === undefined ? undefined : String(req.deprecated),
          }).filter(([, v]) => v !== undefined),
        ),
        'querystring',
      );
      const deprecated = q.deprecated === undefined ? undefined : q.deprecated === 'true';
      const items = await service.listEventTypes({ domain: q.domain, deprecated });
      return { eventTypes: items.map(toProtoEventType), nextPageToken: '' };
    }),

    updateEventType: unary(
      ctx,
      'UpdateEventType',
      async (p, req) => {
        const t = required(req.eventType);
        const idOrName = idOfName(t.name, COLLECTION, 'event_type.name');
        const paths = req.updateMask ?? [];
        if (paths.length === 0) {
          throw validationFailed([{ in: PROTO_PATH, path: 'update_mask', message: 'name the fields to update' }]);
        }
        const bad = paths
          .map((path, i) => ({ path, i }))
          .filter(({ path }) => !PATCHABLE[path])
          .map(({ path, i }) => ({
            in: PROTO_PATH,
            path: `update_mask.paths[${i}]`,
            message: `"${path}" cannot be updated`,
          }));
        if (bad.length > 0) throw validationFailed(bad);
        const input = parseAs(patchEventTypeBody, Object.fromEntries(paths.map((path) => PATCHABLE[path]!(t))));
        return toProtoEventType(await service.patchEventType(p, idOrName, input));
      },
      () => eventTypePath,
    ),

    deleteEventType: unary(ctx, 'DeleteEventType', async (p, req) => {
      await service.deleteEventType(p, idOfName(req.name, COLLECTION));
      return {};
    }),
  };
}

export const eventTypeServiceBinding = (ctx: GrpcCallContext, service: SubscriptionService) => ({
  name: 'integrationhub.v1.EventTypeService',
  definition: EventTypeServiceService,
  implementation: eventTypeServiceImpl(ctx, service),
});
