/**
 * Operator API over the delivery ledger: every ingested event and every delivery, found, read and replayed.
 *
 *   GET  /v1/events                              events, newest first (tenant, type, time range; cursor)
 *   GET  /v1/events/{eventId}                    the event, its audit chain, one entry per subscription
 *   POST /v1/events/{eventId}/replay             deliver again now (delivered before or not), through the gate
 *   GET  /v1/deliveries                          the delivery log (subscription, event, status, time range; cursor)
 *   GET  /v1/deliveries/{eventId}/{subscriptionId}  one delivery with every attempt
 *   POST /v1/deliveries/recover                  re-deliver a subscription's deliveries since a time (background)
 *   GET  /v1/recover-jobs/{id}                   a recover's progress
 *
 * Tenant scoping as the failed-events routes: a tenant key naming another tenant in a filter gets 403, another
 * tenant's ids answer 404 (as ids that do not exist). Events older than the retention window (LOG_RETENTION_DAYS)
 * answer 410 to a replay; dropped partitions make them 404, whose detail names the window.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { PrismaClient } from '../../../prisma/client';
import { canAccessTenant, tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import type { HubApp } from '../../shared/http/create-app';
import { badRequest, forbidden, problem, serviceUnavailable } from '../../shared/http/problem';
import {
  decodeLedgerCursor,
  type LedgerAttemptRow,
  type LedgerDeliveryRow,
  type LedgerEventFull,
  type LedgerEventRow,
  type LedgerQuery,
} from '../../shared/ledger/ledger-query';
import { LedgerQueryPrisma } from '../../shared/ledger/ledger-query.prisma';
import {
  ATTEMPT_SOURCES,
  LEDGER_DELIVERY_STATUSES,
  type LedgerDeliveryStatus,
} from '../../shared/ledger/ledger-record';
import { RecoverJobStorePrisma } from '../job-store.prisma';
import {
  DEFAULT_LOG_RETENTION_DAYS,
  decodeLedgerPayload,
  LedgerNotRecordedError,
  type LedgerReplayDeps,
  type NotSent,
  type ReplayOutcome,
  replayAdmission,
  replayAdmitted,
  retentionCutoff,
} from '../ledger-replay';
import { createRecoverJobs, type RecoverJobs } from '../recover-jobs';

const STATUS = z.enum(LEDGER_DELIVERY_STATUSES);
/** The statuses a recover covers by default. */
export const DEFAULT_RECOVER_STATUSES: LedgerDeliveryStatus[] = LEDGER_DELIVERY_STATUSES.filter(
  (s) => s !== 'DELIVERED',
);
const iso = z.iso.datetime({ offset: true });
const tenantId = z.string().min(1).max(128);
const fromBeforeTo = (q: { from?: string; to?: string }) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to);
const fromBeforeToError = { message: '"from" must be before "to"', path: ['from'] };
const paging = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(1024).optional(),
};
const range = {
  from: iso.optional().describe('events received at or after (inclusive)'),
  to: iso.optional().describe('events received before (exclusive)'),
};

const eventsQuery = z
  .object({ tenantId: tenantId.optional(), type: z.string().min(1).max(256).optional(), ...range, ...paging })
  .strict()
  .refine(fromBeforeTo, fromBeforeToError);
const deliveriesQuery = z
  .object({
    tenantId: tenantId.optional(),
    subscriptionId: z.string().min(1).max(128).optional(),
    eventId: z.string().min(1).max(256).optional(),
    status: STATUS.optional(),
    ...range,
    ...paging,
  })
  .strict()
  .refine(fromBeforeTo, fromBeforeToError);
const eventParams = z.object({ eventId: z.string().min(1).max(256) });
const deliveryParams = eventParams.extend({ subscriptionId: z.string().min(1).max(128) });
const replayBody = z
  .object({ subscriptionId: z.string().min(1).max(128).optional().describe('only this subscription (default: all)') })
  .strict();
const recoverBody = z
  .object({
    subscriptionId: z.string().min(1).max(128),
    since: iso.describe('re-deliver deliveries of events received since (never before the retention window)'),
    status: z.array(STATUS).min(1).max(6).optional().describe('default: every status but DELIVERED'),
    dryRun: z.boolean().default(false),
  })
  .strict();

const eventView = z.object({
  eventId: z.string(),
  tenantId: z.string(),
  type: z.string(),
  source: z.string(),
  subject: z.string().nullable(),
  domain: z.string(),
  match: z.object({
    sourceService: z.string(),
    eventType: z.string(),
    resourceType: z.string(),
    operationType: z.string(),
  }),
  traceId: z.string().nullable(),
  receivedAt: z.string(),
  fanOut: z.number().describe('subscriptions the event was fanned out to'),
  ingest: z
    .object({ topic: z.string(), partition: z.number(), offset: z.string() })
    .nullable()
    .describe('where the input lives in Kafka (null for HTTP ingest)'),
});
const deliveryView = z.object({
  eventId: z.string(),
  subscriptionId: z.string(),
  tenantId: z.string(),
  receivedAt: z.string(),
  status: STATUS,
  reason: z.string().nullable(),
  attempts: z.number(),
  lastStatusCode: z.number().nullable(),
  nextAttemptAt: z.string().nullable(),
  updatedAt: z.string(),
});
const attemptView = z.object({
  attemptId: z.string(),
  attemptedAt: z.string(),
  source: z.enum(ATTEMPT_SOURCES),
  attempt: z.number(),
  durationMs: z.number(),
  statusCode: z.number().nullable(),
  errorCode: z.string().nullable(),
  responseSnippet: z.string().nullable(),
});
const chainEntry = z.object({
  stage: z.enum(['EVENT_RECEIVED', 'EVENT_PROCESSED', 'HTTP_SEND', 'EVENT_ERROR']),
  at: z.string(),
  traceId: z.string().nullable(),
  subscriptionId: z.string().optional(),
  matches: z.number().optional().describe('EVENT_PROCESSED: subscriptions matched'),
  source: z.enum(ATTEMPT_SOURCES).optional(),
  attempt: z.number().optional(),
  statusCode: z.number().nullable().optional(),
  durationMs: z.number().optional(),
  errorCode: z.string().nullable().optional(),
  status: STATUS.optional().describe('EVENT_ERROR: the delivery status'),
  reason: z.string().nullable().optional(),
});
const eventDetailView = eventView.extend({
  attributes: z.record(z.string(), z.string()).describe('CloudEvent attributes (binary-mode ce_* headers)'),
  data: z.string().describe('the event data as UTF-8'),
  chain: z.array(chainEntry).describe('audit chain, oldest first, from the ledger rows'),
  subscriptions: z.array(deliveryView).describe('one entry per subscription the event was fanned out to'),
});
const deliveryDetailView = deliveryView.extend({ deliveryAttempts: z.array(attemptView) });
const eventPage = z.object({ items: z.array(eventView), nextCursor: z.string().nullable() });
const deliveryPage = z.object({ items: z.array(deliveryView), nextCursor: z.string().nullable() });
const replayResult = z.object({
  subscriptionId: z.string(),
  sent: z.boolean().describe('false when the gate refused or held it (nothing sent)'),
  delivered: z.boolean(),
  statusCode: z.number().nullable(),
  errorCode: z.string().nullable(),
  durationMs: z.number(),
  status: STATUS.nullable().describe('the delivery status after the replay (null when not sent)'),
  reason: z.string().nullable(),
});
const replayView = z.object({ eventId: z.string(), receivedAt: z.string(), results: z.array(replayResult) });
const recoverJobView = z.object({
  id: z.string(),
  status: z.enum(['RUNNING', 'COMPLETED', 'FAILED']),
  subscriptionId: z.string(),
  since: z.string(),
  statuses: z.array(STATUS),
  total: z.number(),
  processed: z.number(),
  error: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

type ChainEntry = z.infer<typeof chainEntry>;
const STAGE_ORDER: Record<ChainEntry['stage'], number> = {
  EVENT_RECEIVED: 0,
  EVENT_PROCESSED: 1,
  HTTP_SEND: 2,
  EVENT_ERROR: 3,
};

const eventOut = (e: LedgerEventRow): z.infer<typeof eventView> => ({
  eventId: e.eventId,
  tenantId: e.tenantId,
  type: e.type,
  source: e.source,
  subject: e.subject,
  domain: e.domain,
  match: e.match,
  traceId: e.traceId,
  receivedAt: e.receivedAt.toISOString(),
  fanOut: e.fanOut,
  ingest: e.ingest,
});
const deliveryOut = (d: LedgerDeliveryRow): z.infer<typeof deliveryView> => ({
  eventId: d.eventId,
  subscriptionId: d.subscriptionId,
  tenantId: d.tenantId,
  receivedAt: d.receivedAt.toISOString(),
  status: d.status,
  reason: d.reason,
  attempts: d.attempts,
  lastStatusCode: d.lastStatusCode,
  nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
  updatedAt: d.updatedAt.toISOString(),
});
const attemptOut = (a: LedgerAttemptRow): z.infer<typeof attemptView> => ({
  attemptId: a.attemptId,
  attemptedAt: a.attemptedAt.toISOString(),
  source: a.source,
  attempt: a.attempt,
  durationMs: a.durationMs,
  statusCode: a.statusCode,
  errorCode: a.errorCode,
  responseSnippet: a.responseSnippet,
});

/** The audit chain (EVENT_RECEIVED → EVENT_PROCESSED → HTTP_SEND… / EVENT_ERROR) from the ledger rows. */
export function auditChain(e: LedgerEventRow, deliveries: LedgerDeliveryRow[], attempts: LedgerAttemptRow[]) {
  const at = e.receivedAt.toISOString();
  const chain: ChainEntry[] = [
    { stage: 'EVENT_RECEIVED', at, traceId: e.traceId },
    { stage: 'EVENT_PROCESSED', at, traceId: e.traceId, matches: e.fanOut },
    ...attempts.map(
      (a): ChainEntry => ({
        stage: 'HTTP_SEND',
        at: a.attemptedAt.toISOString(),
        traceId: e.traceId,
        subscriptionId: a.subscriptionId,
        source: a.source,
        attempt: a.attempt,
        statusCode: a.statusCode,
        durationMs: a.durationMs,
        errorCode: a.errorCode,
      }),
    ),
    ...deliveries
      .filter((d) => d.status === 'FAILED' || d.status === 'SKIPPED')
      .map(
        (d): ChainEntry => ({
          stage: 'EVENT_ERROR',
          at: d.updatedAt.toISOString(),
          traceId: e.traceId,
          subscriptionId: d.subscriptionId,
          status: d.status,
          statusCode: d.lastStatusCode,
          reason: d.reason,
        }),
      ),
  ];
  return chain
    .map((c, i) => ({ c, i }))
    .sort(
      (x, y) => Date.parse(x.c.at) - Date.parse(y.c.at) || STAGE_ORDER[x.c.stage] - STAGE_ORDER[y.c.stage] || x.i - y.i,
    )
    .map(({ c }) => c);
}

export interface LedgerApiDeps {
  query: LedgerQuery;
  replay: LedgerReplayDeps;
  recoverJobs: RecoverJobs;
  /** LOG_RETENTION_DAYS (default 14): replay answers 410 past it. */
  retentionDays?: number;
  /** Deliveries of one event replayed at once (default 8). */
  replayConcurrency?: number;
}

/**
 * The ledger API's deps from the service's own: a Prisma read adapter, replay through `replay` (the directory,
 * deliver and endpoint check the scheduler uses, and the ledger sink), recover jobs with bounded concurrency.
 */
export function createLedgerApiDeps(
  prisma: PrismaClient,
  replay: LedgerReplayDeps,
  opts: { retentionDays?: number; recoverConcurrency?: number } = {},
): LedgerApiDeps {
  const query = new LedgerQueryPrisma(prisma);
  const retentionDays = opts.retentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
  return {
    query,
    replay,
    retentionDays,
    recoverJobs: createRecoverJobs(
      new RecoverJobStorePrisma(prisma),
      query,
      { ...replay, retentionDays },
      opts.recoverConcurrency ?? 8,
    ),
  };
}

/** A gate refusal (or an undecodable payload) as problem+json: nothing was sent. */
export function notSentProblem(what: string, n: NotSent) {
  const status = n.code === 'GATE.ENDPOINT_BLOCKED' || n.code === 'LEDGER.UNDECODABLE' ? 422 : 409;
  return problem(
    status,
    status === 422 ? 'unprocessable' : 'conflict',
    status === 422 ? 'Unprocessable content' : 'Conflict',
    `${what} not sent: ${n.reason}`,
    { details: { code: n.code } },
  );
}

export function registerLedgerRoutes(api: HubApp, deps: LedgerApiDeps): void {
  const tags = ['ledger'];
  const retentionDays = deps.retentionDays ?? DEFAULT_LOG_RETENTION_DAYS;
  const window = `the ledger keeps events for ${retentionDays} days (LOG_RETENTION_DAYS)`;
  const scope = (req: FastifyRequest, t?: string) => {
    const s = tenantScope(principalOf(req), t);
    if (!s.ok) throw forbidden(s.detail);
    return s.tenantId;
  };
  /** The caller's tenant for id lookups: undefined for operators (any tenant). */
  const ownTenant = (req: FastifyRequest) => {
    const p = principalOf(req);
    return p.role === 'OPERATOR' ? undefined : (p.tenantId ?? '\u0000none');
  };
  const eventNotFound = (eventId: string) =>
    problem(404, 'not-found', 'Not found', `event "${eventId}" not found (${window}; older events are dropped)`);
  const badCursor = () =>
    badRequest('cursor is not one this API handed out: use nextCursor from a previous page', [
      { path: 'cursor', message: 'invalid cursor' },
    ]);

  api.get(
    '/v1/events',
    {
      schema: {
        tags,
        summary: 'List events (filters, cursor pagination), newest first',
        querystring: eventsQuery,
        response: { 200: eventPage },
      },
    },
    async (req) => {
      const { limit, cursor, ...q } = req.query;
      if (cursor !== undefined && !decodeLedgerCursor(cursor, false)) throw badCursor();
      const page = await deps.query.listEvents(
        {
          tenantId: scope(req, q.tenantId),
          type: q.type,
          from: q.from ? new Date(q.from) : undefined,
          to: q.to ? new Date(q.to) : undefined,
        },
        limit,
        cursor,
      );
      return { items: page.items.map(eventOut), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/v1/events/:eventId',
    {
      schema: {
        tags,
        summary: 'An event with its data, audit chain and one entry per subscription with its delivery status',
        params: eventParams,
        response: { 200: eventDetailView },
      },
    },
    async (req) => {
      const e = await deps.query.findEvent(req.params.eventId, ownTenant(req));
      if (!e || !canAccessTenant(principalOf(req), e.tenantId)) throw eventNotFound(req.params.eventId);
      const [deliveries, attempts] = await Promise.all([deps.query.deliveriesOf(e), deps.query.attemptsOf(e)]);
      return {
        ...eventOut(e),
        attributes: e.payloadHeaders,
        data: e.payloadBody.toString('utf8'),
        chain: auditChain(e, deliveries, attempts),
        subscriptions: deliveries.map(deliveryOut),
      };
    },
  );

  api.post(
    '/v1/events/:eventId/replay',
    {
      schema: {
        tags,
        summary:
          'Deliver again now (delivered before or not; same webhook-id, fresh signature) through the delivery gate, to every subscription of the event or the one named',
        params: eventParams,
        body: replayBody.nullish(),
        response: { 200: replayView },
      },
    },
    async (req) => {
      const { eventId } = req.params;
      const only = req.body?.subscriptionId;
      const e = await deps.query.findEvent(eventId, ownTenant(req));
      if (!e || !canAccessTenant(principalOf(req), e.tenantId)) throw eventNotFound(eventId);
      if (e.receivedAt < retentionCutoff(retentionDays))
        throw problem(
          410,
          'gone',
          'Gone',
          `event "${eventId}" was received at ${e.receivedAt.toISOString()}, outside the replay window: ${window}`,
          { details: { retentionDays } },
        );
      const all = await deps.query.deliveriesOf(e);
      const targets = only === undefined ? all : all.filter((d) => d.subscriptionId === only);
      if (only !== undefined && targets.length === 0)
        throw problem(404, 'not-found', 'Not found', `event "${eventId}" has no delivery to subscription "${only}"`);
      if (targets.length === 0)
        throw problem(409, 'conflict', 'Conflict', `event "${eventId}" matched no subscription`);
      const decoded = decodeLedgerPayload(e);
      if (!('event' in decoded)) throw notSentProblem(`event "${eventId}"`, decoded);
      const plan = targets.map((d) => ({ d, admission: replayAdmission(deps.replay, e, d.subscriptionId) }));
      // Nothing admitted: the gate's answer (nothing sent). Some admitted: those are sent, the rest reported.
      const refused = plan.find((p) => !('sub' in p.admission));
      if (refused && plan.every((p) => !('sub' in p.admission)))
        throw notSentProblem(
          `event "${eventId}" to subscription "${refused.d.subscriptionId}"`,
          refused.admission as NotSent,
        );
      const results = await replayAll(deps, e, decoded.event, plan);
      return { eventId: e.eventId, receivedAt: e.receivedAt.toISOString(), results };
    },
  );

  api.get(
    '/v1/deliveries',
    {
      schema: {
        tags,
        summary: 'The delivery log (filters, cursor pagination), newest event first',
        querystring: deliveriesQuery,
        response: { 200: deliveryPage },
      },
    },
    async (req) => {
      const { limit, cursor, ...q } = req.query;
      if (cursor !== undefined && !decodeLedgerCursor(cursor, true)) throw badCursor();
      const page = await deps.query.listDeliveries(
        {
          tenantId: scope(req, q.tenantId),
          subscriptionId: q.subscriptionId,
          eventId: q.eventId,
          status: q.status,
          from: q.from ? new Date(q.from) : undefined,
          to: q.to ? new Date(q.to) : undefined,
        },
        limit,
        cursor,
      );
      return { items: page.items.map(deliveryOut), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/v1/deliveries/:eventId/:subscriptionId',
    {
      schema: {
        tags,
        summary: 'One delivery with every attempt (time, source, duration, status, error, response snippet)',
        params: deliveryParams,
        response: { 200: deliveryDetailView },
      },
    },
    async (req) => {
      const { eventId, subscriptionId } = req.params;
      const d = await deps.query.findDelivery(eventId, subscriptionId, ownTenant(req));
      if (!d || !canAccessTenant(principalOf(req), d.tenantId))
        throw problem(
          404,
          'not-found',
          'Not found',
          `delivery of event "${eventId}" to subscription "${subscriptionId}" not found (${window})`,
        );
      const attempts = await deps.query.attemptsOf(d, subscriptionId);
      return { ...deliveryOut(d), deliveryAttempts: attempts.map(attemptOut) };
    },
  );

  api.post(
    '/v1/deliveries/recover',
    {
      schema: {
        tags,
        summary:
          "Re-deliver a subscription's deliveries since a time (default: every status but DELIVERED), in the background; dryRun answers the count",
        body: recoverBody,
        response: { 200: z.object({ dryRun: z.literal(true), count: z.number() }), 202: recoverJobView },
      },
    },
    async (req, reply) => {
      const { subscriptionId, since, status, dryRun } = req.body;
      const sub = deps.replay.directory.get(subscriptionId);
      if (!sub || !canAccessTenant(principalOf(req), sub.tenantId))
        throw problem(404, 'not-found', 'Not found', `subscription "${subscriptionId}" not found`);
      const request = {
        tenantId: sub.tenantId,
        subscriptionId,
        since: new Date(since),
        statuses: [...new Set(status ?? DEFAULT_RECOVER_STATUSES)],
      };
      if (dryRun) return { dryRun: true as const, count: await deps.recoverJobs.count(request) };
      const admission = replayAdmission(deps.replay, sub, subscriptionId);
      if (!('sub' in admission)) throw notSentProblem(`recover of subscription "${subscriptionId}"`, admission);
      const job = await deps.recoverJobs.start(request, principalOf(req).keyId);
      return reply.code(202).header('location', `/v1/recover-jobs/${job.id}`).send(job);
    },
  );

  api.get(
    '/v1/recover-jobs/:id',
    {
      schema: {
        tags,
        summary: 'Progress of a recover',
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 200: recoverJobView },
      },
    },
    async (req) => {
      const job = await deps.recoverJobs.get(req.params.id, ownTenant(req));
      if (!job) throw problem(404, 'not-found', 'Not found', `recover job "${req.params.id}" not found`);
      return job;
    },
  );
}

async function replayAll(
  deps: LedgerApiDeps,
  e: LedgerEventFull,
  cloudEvent: Parameters<typeof replayAdmitted>[2],
  plan: { d: LedgerDeliveryRow; admission: ReturnType<typeof replayAdmission> }[],
): Promise<z.infer<typeof replayResult>[]> {
  const results: z.infer<typeof replayResult>[] = new Array(plan.length);
  const sent = (o: ReplayOutcome) => ({ ...o, sent: true });
  let i = 0;
  let failed: LedgerNotRecordedError | undefined;
  const worker = async () => {
    while (i < plan.length) {
      const k = i++;
      const { d, admission } = plan[k]!;
      if (!('sub' in admission)) {
        results[k] = {
          subscriptionId: d.subscriptionId,
          sent: false,
          delivered: false,
          statusCode: null,
          errorCode: admission.code,
          durationMs: 0,
          status: null,
          reason: admission.reason,
        };
        continue;
      }
      try {
        results[k] = sent(await replayAdmitted(deps.replay, e, cloudEvent, admission.sub, d));
      } catch (err) {
        if (!(err instanceof LedgerNotRecordedError)) throw err;
        failed ??= err;
        results[k] = sent(err.outcome);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.replayConcurrency ?? 8, plan.length) }, worker));
  if (failed) throw serviceUnavailable(failed.message);
  return results;
}
