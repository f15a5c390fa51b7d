/**
 * Ordered lanes: an ordered subscription's deliveries to one tenant, delivered strictly in order. A lane whose head
 * cannot be delivered holds back only itself. Operators see blocked lanes and may release a head: SKIP (never
 * delivered) or FAIL (kept as FAILED for a later replay); the lane then moves on at once. Tenant keys see and
 * release only their own tenant's lanes (another tenant's lane answers 404).
 */
import { z } from 'zod';
import { tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import type { HubApp } from '../../shared/http/create-app';
import { forbidden, notFound } from '../../shared/http/problem';
import type { FailureStore, StoredFailure } from '../../shared/parked/failure-store';

const tags = ['lanes'];
const head = z.object({
  id: z.string().describe('the failed-event id of the head (GET /v1/failed-events/{id} shows its attempts)'),
  eventId: z.string(),
  status: z.string(),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastStatusCode: z.number().nullable(),
  lastErrorCode: z.string().nullable(),
  reason: z.string().nullable(),
  firstFailedAt: z.string(),
});
const laneView = z.object({
  subscriptionId: z.string(),
  tenantId: z.string(),
  waiting: z.number().describe('unresolved deliveries in the lane, the head included'),
  head,
});
const headView = (f: StoredFailure): z.infer<typeof head> => ({
  id: f.id,
  eventId: f.eventId,
  status: f.status,
  attempts: f.attempts,
  nextAttemptAt: f.nextAttemptAt?.toISOString() ?? null,
  lastStatusCode: f.lastStatusCode,
  lastErrorCode: f.lastErrorCode,
  reason: f.reason,
  firstFailedAt: f.firstFailedAt.toISOString(),
});

export function registerLaneRoutes(api: HubApp, deps: { store: FailureStore }): void {
  const scope = (req: Parameters<typeof principalOf>[0], tenantId?: string) => {
    const s = tenantScope(principalOf(req), tenantId);
    if (!s.ok) throw forbidden(s.detail);
    return s.tenantId;
  };

  api.get(
    '/v1/lanes',
    {
      schema: {
        tags,
        summary: 'Blocked ordered lanes with their head (the delivery attempted next)',
        querystring: z
          .object({
            tenantId: z.string().min(1).max(128).optional(),
            subscriptionId: z.string().min(1).max(128).optional(),
            limit: z.coerce.number().int().min(1).max(500).default(100),
          })
          .strict(),
        response: { 200: z.object({ items: z.array(laneView) }) },
      },
    },
    async (req) => {
      const tenantId = scope(req, req.query.tenantId);
      const lanes = await deps.store.lanes({ tenantId, subscriptionId: req.query.subscriptionId }, req.query.limit);
      return { items: lanes.map((l) => ({ ...l, head: headView(l.head) })) };
    },
  );

  api.post(
    '/v1/lanes/release',
    {
      schema: {
        tags,
        summary: "Release a blocked lane's head: SKIP it (never delivered) or FAIL it (kept for a replay)",
        body: z
          .object({
            subscriptionId: z.string().min(1).max(128),
            tenantId: z.string().min(1).max(128),
            action: z.enum(['SKIP', 'FAIL']),
          })
          .strict(),
        response: { 200: z.object({ released: head }) },
      },
    },
    async (req) => {
      const { subscriptionId, action } = req.body;
      const tenantId = scope(req, req.body.tenantId)!;
      const by = principalOf(req).keyId;
      const released = await deps.store.releaseLaneHead(
        { subscriptionId, tenantId },
        action,
        action === 'SKIP'
          ? `skipped by operator (key ${by}) to release its ordered lane`
          : `failed by operator (key ${by}) to release its ordered lane`,
      );
      if (!released) throw notFound('blocked lane', `${subscriptionId}/${tenantId}`);
      return { released: headView(released) };
    },
  );
}
