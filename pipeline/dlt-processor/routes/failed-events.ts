/** Operator API: list, detail, replay (single and bulk), stats. Tenant keys see only their tenant (else 404). */
import { z } from 'zod';
import { canAccessTenant, tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import type { HubApp } from '../../shared/http/create-app';
import { badRequest, conflict, forbidden, notFound } from '../../shared/http/problem';
import { decodeCursor } from '../../shared/parked/cursor';
import type { FailureFilter, FailureStore, StoredFailure } from '../../shared/parked/failure-store';
import { bulkReplayFilter } from '../handler';
import type { createReplayJobs } from '../replay-jobs';
import type { RedeliveryDeps } from '../scheduler';
import { redeliver } from '../scheduler';

const STATUSES = ['PENDING', 'RETRYING', 'HELD', 'DELIVERED', 'FAILED', 'REPLAYED', 'SKIPPED'] as const;
const tags = ['failed-events'];

const filterShape = z.object({
  tenantId: z.string().min(1).max(128).optional(),
  subscriptionId: z.string().min(1).max(128).optional(),
  status: z.enum(STATUSES).optional(),
  eventType: z.string().min(1).max(256).optional(),
  domain: z.enum(['user-lifecycle', 'access', 'policy', 'organization']).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
const fromBeforeTo = (q: { from?: string; to?: string }) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to);
const fromBeforeToError = { message: '"from" must be before "to"', path: ['from'] };
const listQuery = filterShape
  .extend({ limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(512).optional() })
  .strict()
  .refine(fromBeforeTo, fromBeforeToError);
const bulkBody = filterShape
  .extend({ dryRun: z.boolean().default(false) })
  .strict()
  .refine(fromBeforeTo, fromBeforeToError);
const idParams = z.object({ id: z.string().min(1).max(64) });

const failureView = z.object({
  id: z.string(),
  eventId: z.string(),
  subscriptionId: z.string(),
  tenantId: z.string(),
  domain: z.string(),
  eventType: z.string().nullable(),
  status: z.enum(STATUSES),
  reason: z.string().nullable(),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastStatusCode: z.number().nullable(),
  lastErrorCode: z.string().nullable(),
  firstFailedAt: z.string(),
  lastFailedAt: z.string(),
  resolvedAt: z.string().nullable(),
  createdAt: z.string(),
});
const attemptView = z.object({
  attemptedAt: z.string(),
  source: z.enum(['OUTBOX', 'SCHEDULED', 'REPLAY']),
  statusCode: z.number().nullable(),
  errorCode: z.string().nullable(),
  durationMs: z.number(),
  responseSnippet: z.string().nullable(),
});
const detailView = failureView.extend({
  event: z.object({
    headers: z
      .record(z.string(), z.string())
      .describe('CloudEvent attributes (ce_*) and hub headers, as on the DLT record'),
    body: z.string().describe('The event data as UTF-8'),
  }),
  failureHeaders: z.record(z.string(), z.string()),
  deliveryAttempts: z.array(attemptView),
});
const pageView = z.object({ items: z.array(failureView), nextCursor: z.string().nullable() });
const statsView = z.object({
  byStatus: z.record(z.string(), z.number()),
  oldestUnresolvedAgeSeconds: z.number().nullable(),
});
const replayView = z.object({
  id: z.string(),
  eventId: z.string(),
  delivered: z.boolean(),
  status: z.enum(STATUSES),
  statusCode: z.number().optional(),
  errorCode: z.string().optional(),
  durationMs: z.number(),
  reason: z.string().nullable(),
});
const jobView = z.object({
  id: z.string(),
  status: z.enum(['RUNNING', 'COMPLETED', 'FAILED']),
  total: z.number(),
  processed: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

const view = (f: StoredFailure): z.infer<typeof failureView> => ({
  id: f.id,
  eventId: f.eventId,
  subscriptionId: f.subscriptionId,
  tenantId: f.tenantId,
  domain: f.domain,
  eventType: f.eventType,
  status: f.status,
  reason: f.reason,
  attempts: f.attempts,
  nextAttemptAt: f.nextAttemptAt?.toISOString() ?? null,
  lastStatusCode: f.lastStatusCode,
  lastErrorCode: f.lastErrorCode,
  firstFailedAt: f.firstFailedAt.toISOString(),
  lastFailedAt: f.lastFailedAt.toISOString(),
  resolvedAt: f.resolvedAt?.toISOString() ?? null,
  createdAt: f.createdAt.toISOString(),
});

function toFilter(q: z.infer<typeof filterShape>, tenantId: string | undefined): FailureFilter {
  return {
    tenantId,
    subscriptionId: q.subscriptionId,
    status: q.status,
    eventType: q.eventType,
    domain: q.domain,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
  };
}

export function registerFailedEventRoutes(
  api: HubApp,
  deps: { store: FailureStore; redelivery: RedeliveryDeps; jobs: ReturnType<typeof createReplayJobs> },
): void {
  const scope = (req: Parameters<typeof principalOf>[0], tenantId?: string) => {
    const s = tenantScope(principalOf(req), tenantId);
    if (!s.ok) throw forbidden(s.detail);
    return s.tenantId;
  };

  api.get(
    '/v1/failed-events',
    {
      schema: {
        tags,
        summary: 'List failed deliveries (filters, cursor pagination), newest first',
        querystring: listQuery,
        response: { 200: pageView },
      },
    },
    async (req) => {
      const { limit, cursor, ...q } = req.query;
      if (cursor !== undefined && !decodeCursor(cursor))
        throw badRequest('cursor is not one this API handed out: use nextCursor from a previous page', [
          { path: 'cursor', message: 'invalid cursor' },
        ]);
      const page = await deps.store.list(toFilter(q, scope(req, q.tenantId)), limit, cursor);
      return { items: page.items.map(view), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/v1/failed-events/stats',
    {
      schema: {
        tags,
        summary: 'Counts by status and the age of the oldest unresolved failure',
        querystring: z.object({ tenantId: z.string().optional() }).strict(),
        response: { 200: statsView },
      },
    },
    async (req) => deps.store.stats(scope(req, req.query.tenantId)),
  );

  api.get(
    '/v1/failed-events/:id',
    {
      schema: {
        tags,
        summary: 'A failed delivery with its event and attempts',
        params: idParams,
        response: { 200: detailView },
      },
    },
    async (req) => {
      const f = await deps.store.get(req.params.id);
      if (!f || !canAccessTenant(principalOf(req), f.tenantId)) throw notFound('failed event', req.params.id);
      // Headers as stored on the DLT record: CloudEvent attributes and hub failure headers, no credentials.
      return {
        ...view(f),
        event: { headers: f.ceHeaders, body: f.body.toString('utf8') },
        failureHeaders: f.failureHeaders,
        deliveryAttempts: f.attemptsLog.map((a) => ({ ...a, attemptedAt: a.attemptedAt.toISOString() })),
      };
    },
  );

  api.post(
    '/v1/failed-events/:id/replay',
    {
      schema: {
        tags,
        summary: 'Redeliver now (same webhook-id, fresh signature) and answer the outcome; 409 when resolved or busy',
        params: idParams,
        response: { 200: replayView },
      },
    },
    async (req) => {
      const existing = await deps.store.get(req.params.id);
      if (!existing || !canAccessTenant(principalOf(req), existing.tenantId))
        throw notFound('failed event', req.params.id);
      const claimed = await deps.store.claimForReplay(existing.id, deps.redelivery.instanceId, deps.redelivery.leaseMs);
      if (claimed === 'resolved')
        throw conflict(`failed event ${existing.id} is already ${existing.status}: nothing to replay`);
      if (claimed === 'busy' || claimed === undefined)
        throw conflict(`failed event ${existing.id} is being retried right now; try again in a few seconds`);
      const out = await redeliver(deps.redelivery, claimed, true);
      return { id: existing.id, eventId: existing.eventId, ...out };
    },
  );

  api.post(
    '/v1/failed-events/replay',
    {
      schema: {
        tags,
        summary: 'Bulk replay by filter (FAILED rows unless a status is given); dryRun answers the count',
        body: bulkBody,
        response: { 200: z.object({ dryRun: z.literal(true), count: z.number() }), 202: jobView },
      },
    },
    async (req, reply) => {
      const { dryRun, ...q } = req.body;
      const tenantId = scope(req, q.tenantId);
      const filter = toFilter(q, tenantId);
      const target = bulkReplayFilter(filter);
      if (!target) throw conflict('delivered or replayed events cannot be replayed');
      if (dryRun) return { dryRun: true as const, count: await deps.store.count(target) };
      const job = await deps.jobs.start(target, principalOf(req).keyId, tenantId);
      return reply.code(202).header('location', `/v1/replay-jobs/${job.id}`).send(job);
    },
  );

  api.get(
    '/v1/replay-jobs/:id',
    { schema: { tags, summary: 'Progress of a bulk replay', params: idParams, response: { 200: jobView } } },
    async (req) => {
      const p = principalOf(req);
      const job = await deps.jobs.get(req.params.id, p.role === 'OPERATOR' ? undefined : p.tenantId);
      if (!job) throw notFound('replay job', req.params.id);
      return job;
    },
  );
}
