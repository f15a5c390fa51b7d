/**
 * Operator API over the change audit (issue 14, item 3): who created, changed, paused, resumed, rotated or deleted
 * which subscription, event type or API key, and when.
 *
 *   GET /v1/audit?tenantId&resourceType&resourceId&action&from&to&cursor&limit     newest first (cursor)
 *
 * Tenant scoping as the ledger routes: a tenant key sees its own tenant's entries only (naming another tenant is a
 * 403); operator keys see every entry, the global ones (event types, operator keys) included. Entries name the
 * fields that changed, never their values.
 */
import { z } from 'zod';
import { tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import {
  CHANGE_ACTIONS,
  CHANGE_RESOURCE_TYPES,
  type ChangeAuditQuery,
  type ChangeAuditRow,
  decodeAuditCursor,
} from '../../shared/change-audit/change-audit';
import type { HubApp } from '../../shared/http/create-app';
import { badRequest, forbidden } from '../../shared/http/problem';

const iso = z.iso.datetime({ offset: true });

const auditQuery = z
  .object({
    tenantId: z.string().min(1).max(128).optional(),
    resourceType: z.enum(CHANGE_RESOURCE_TYPES).optional(),
    resourceId: z.string().min(1).max(128).optional(),
    action: z.enum(CHANGE_ACTIONS).optional(),
    from: iso.optional().describe('changes at or after (inclusive)'),
    to: iso.optional().describe('changes before (exclusive)'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(1024).optional(),
  })
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    message: '"from" must be before "to"',
    path: ['from'],
  });

const auditEntryView = z
  .object({
    id: z.string().describe('increases with every entry'),
    at: z.string(),
    tenantId: z.string().nullable().describe('null for global resources: event types, operator keys'),
    actor: z.object({
      keyId: z.string().describe('the API key that made the change (`bootstrap`: OPERATOR_API_KEY at start)'),
      name: z.string().nullable(),
    }),
    action: z.enum(CHANGE_ACTIONS),
    resourceType: z.enum(CHANGE_RESOURCE_TYPES),
    resourceId: z.string(),
    version: z.number().nullable().describe('the resource version after the change (before it, for a delete)'),
    changedFields: z.array(z.string()).describe('names of the fields that changed (never their values)'),
    requestId: z.string().nullable().describe('x-request-id of the request that made the change'),
  })
  .meta({ id: 'ChangeAuditEntry' });
const auditPage = z.object({ items: z.array(auditEntryView), nextCursor: z.string().nullable() });

const entryOut = (r: ChangeAuditRow): z.infer<typeof auditEntryView> => ({
  id: r.id,
  at: r.at.toISOString(),
  tenantId: r.tenantId,
  actor: { keyId: r.actor.keyId, name: r.actor.name },
  action: r.action,
  resourceType: r.resourceType,
  resourceId: r.resourceId,
  version: r.version,
  changedFields: r.changedFields,
  requestId: r.actor.requestId,
});

export function registerChangeAuditRoutes(api: HubApp, deps: { query: ChangeAuditQuery }): void {
  api.get(
    '/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary:
          'Management changes (subscriptions, pauses, rotations, event types, API keys): who, what, which fields; newest first',
        querystring: auditQuery,
        response: { 200: auditPage },
      },
    },
    async (req) => {
      const { limit, cursor, tenantId, from, to, ...q } = req.query;
      const scope = tenantScope(principalOf(req), tenantId);
      if (!scope.ok) throw forbidden(scope.detail);
      if (cursor !== undefined && decodeAuditCursor(cursor) === undefined)
        throw badRequest('cursor is not one this API handed out: use nextCursor from a previous page', [
          { path: 'cursor', message: 'invalid cursor' },
        ]);
      const page = await deps.query.list(
        {
          ...q,
          tenantId: scope.tenantId,
          from: from ? new Date(from) : undefined,
          to: to ? new Date(to) : undefined,
        },
        limit,
        cursor,
      );
      return { items: page.items.map(entryOut), nextCursor: page.nextCursor };
    },
  );
}
