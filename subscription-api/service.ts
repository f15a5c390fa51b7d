/**
 * subscription-api use cases.
 *
 *   request (validated by zod) ─▶ tenancy (principal) ─▶ endpoint SSRF policy ─▶ seal secrets (aad = id)
 *     ─▶ repository: row + changelog outbox row in one transaction ─▶ view without secrets
 *
 * Tenant keys see only their tenant: another tenant's subscription answers 404 on every route; naming another
 * tenant explicitly (body or filter) answers 403. Event types are a global catalogue: every key reads, operator
 * keys write.
 *
 * Every change is audited by the repository in its own transaction (change-audit.ts), as made by the caller's key
 * (`actorOf(principal, requestId)`; the REST routes pass their request id, gRPC calls have none).
 *
 * Refusals are domain errors (errors.ts); the REST routes and the gRPC server answer them (errors.http.ts).
 */
import { randomBytes } from 'node:crypto';
import { canAccessTenant, type Principal, tenantScope } from '../pipeline/shared/auth/api-key';
import { actorOf } from '../pipeline/shared/change-audit/change-audit';
import type { SecretBox } from '../pipeline/shared/crypto/secret-box';
import { formatDuration, parseSchedule } from '../pipeline/shared/delivery/retry-schedule';
import { uuidv7 } from '../pipeline/shared/ids';
import { type EndpointPolicy, validateEndpointUrl } from '../pipeline/shared/net/ssrf-policy';
import {
  type AuthSnapshot,
  BATCH_WITH_ORDERED,
  type MatchKey,
  type SubscriptionStatus,
} from '../pipeline/shared/subscriptions/snapshot';
import { SubscriptionIndex } from '../pipeline/shared/subscriptions/subscription-index';
import {
  ConflictError,
  EndpointNotAllowedError,
  type FieldViolation,
  InvalidArgumentError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
} from './errors';
import {
  type DeliveryStatus,
  type DeliveryStatusReader,
  DuplicateError,
  type EventTypeRecord,
  type EventTypeRepository,
  NO_DELIVERY_STATUS,
  type SubscriptionRecord,
  type SubscriptionRepository,
  toSnapshot,
} from './ports';
import type {
  AuthInput,
  AuthPatchInput,
  AuthView,
  CreateEventTypeInput,
  CreateSubscriptionInput,
  EventTypeView,
  ListSubscriptionsQuery,
  PatchEventTypeInput,
  PatchSubscriptionInput,
  SubscriptionView,
} from './schemas';

export interface SubscriptionServiceDeps {
  subscriptions: SubscriptionRepository;
  eventTypes: EventTypeRepository;
  /** Held deliveries and endpoint health for the subscription view (read-only; the dlt-processor writes them). */
  deliveryStatus: DeliveryStatusReader;
  box: SecretBox;
  endpointPolicy: EndpointPolicy;
  /** How long the previous signing secret stays valid after a rotation. */
  rotationOverlapMs: number;
  now?: () => Date;
}

/** Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && parsed.after.length > 0 && parsed.after.length <= 64) return parsed.after;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError([{ in: 'querystring', path: 'cursor', message: 'not a cursor returned by this API' }]);
}

export function toAuthView(auth: AuthSnapshot): AuthView {
  switch (auth.type) {
    case 'NONE':
      return { type: 'NONE' };
    case 'BASIC':
      return { type: 'BASIC', username: auth.username, passwordSet: true };
    case 'OAUTH2':
      return {
        type: 'OAUTH2',
        clientId: auth.clientId,
        tokenUrl: auth.tokenUrl,
        ...(auth.scope !== undefined ? { scope: auth.scope } : {}),
        clientSecretSet: true,
      };
    case 'JWT':
      return { type: 'JWT', tokenSet: true };
    case 'APIKEY':
      return { type: 'APIKEY', headerName: auth.headerName, keySet: true };
  }
}

/** Milliseconds of a retry schedule given as durations (the request schema already checked it). */
function retryScheduleMs(steps: readonly string[]): number[] {
  const res = parseSchedule(steps);
  if (!res.ok) throw new InvalidArgumentError([{ in: 'body', path: 'retrySchedule', message: res.reason }]);
  return res.delays;
}

/** `status` defaults to "nothing held, healthy" (a subscription just created); `now` dates the held age. */
export function toSubscriptionView(
  r: SubscriptionRecord,
  status: DeliveryStatus = NO_DELIVERY_STATUS,
  now: Date = new Date(),
): SubscriptionView {
  const oldest = status.held.oldestAt;
  return {
    id: r.id,
    tenantId: r.tenantId,
    description: r.description,
    status: r.status,
    match: { ...r.match },
    endpointUrl: r.endpointUrl,
    contentMode: r.contentMode,
    auth: toAuthView(r.auth),
    customHeaders: { ...r.customHeaders },
    maxAttempts: r.maxAttempts,
    retrySchedule: r.retrySchedule === null ? null : r.retrySchedule.map(formatDuration),
    ordered: r.ordered,
    batch: r.batch === null ? null : { ...r.batch },
    held: {
      count: status.held.count,
      oldestAgeSeconds:
        status.held.count > 0 && oldest ? Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)) : null,
    },
    health: {
      failing: status.health.failing,
      exhaustedDeliveries: status.health.exhaustedDeliveries,
      lastExhaustedAt: status.health.lastExhaustedAt?.toISOString() ?? null,
    },
    signing: { previousSecretExpiresAt: r.signing.previous ? (r.signing.previousExpiresAt ?? null) : null },
    version: r.version,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export function toEventTypeView(r: EventTypeRecord): EventTypeView {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    domain: r.domain,
    schemaRef: r.schemaRef,
    deprecated: r.deprecated,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type SubscriptionService = ReturnType<typeof createSubscriptionService>;

export function createSubscriptionService(deps: SubscriptionServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const { box } = deps;

  async function checkUrl(url: string, path: string): Promise<void> {
    const res = await validateEndpointUrl(url, deps.endpointPolicy);
    if (!res.ok) throw new EndpointNotAllowedError(path, res.reason, res.code);
  }

  async function checkAuthUrls(auth: AuthInput | AuthPatchInput | undefined): Promise<void> {
    if (auth?.type === 'OAUTH2') await checkUrl(auth.tokenUrl, 'auth.tokenUrl');
  }

  /** Seals a complete auth input. */
  function sealAuth(input: AuthInput, id: string): AuthSnapshot {
    switch (input.type) {
      case 'NONE':
        return { type: 'NONE' };
      case 'BASIC':
        return { type: 'BASIC', username: input.username, secret: box.seal(input.password, id) };
      case 'OAUTH2':
        return {
          type: 'OAUTH2',
          clientId: input.clientId,
          tokenUrl: input.tokenUrl,
          ...(input.scope !== undefined ? { scope: input.scope } : {}),
          secret: box.seal(input.clientSecret, id),
        };
      case 'JWT':
        return { type: 'JWT', secret: box.seal(input.token, id) };
      case 'APIKEY':
        return { type: 'APIKEY', headerName: input.headerName, secret: box.seal(input.key, id) };
    }
  }

  /** Seals a patch: a left-out secret keeps the stored one when the auth type is unchanged. */
  function patchAuth(input: AuthPatchInput, current: AuthSnapshot, id: string): AuthSnapshot {
    const secretField = { BASIC: 'password', OAUTH2: 'clientSecret', JWT: 'token', APIKEY: 'key', NONE: '' }[
      input.type
    ];
    if (input.type === 'NONE') return { type: 'NONE' };
    const given = (input as Record<string, unknown>)[secretField] as string | undefined;
    const kept = current.type === input.type ? current.secret : undefined;
    if (given === undefined && kept === undefined) {
      throw new InvalidArgumentError([
        { in: 'body', path: `auth.${secretField}`, message: `required when changing the auth type to ${input.type}` },
      ]);
    }
    const secret = given !== undefined ? box.seal(given, id) : kept!;
    switch (input.type) {
      case 'BASIC':
        return { type: 'BASIC', username: input.username, secret };
      case 'OAUTH2':
        return {
          type: 'OAUTH2',
          clientId: input.clientId,
          tokenUrl: input.tokenUrl,
          ...(input.scope !== undefined ? { scope: input.scope } : {}),
          secret,
        };
      case 'JWT':
        return { type: 'JWT', secret };
      case 'APIKEY':
        return { type: 'APIKEY', headerName: input.headerName, secret };
    }
  }

  /** Drops a previous signing secret whose overlap window has passed. */
  function pruneSigning(signing: SubscriptionRecord['signing'], at: Date): SubscriptionRecord['signing'] {
    if (signing.previousExpiresAt && Date.parse(signing.previousExpiresAt) <= at.getTime()) {
      return { current: signing.current };
    }
    return signing;
  }

  function visible(principal: Principal, id: string) {
    return (current: SubscriptionRecord): void => {
      if (!canAccessTenant(principal, current.tenantId)) throw new NotFoundError('subscription', id);
    };
  }

  async function mutate(
    principal: Principal,
    id: string,
    requestId: string | undefined,
    change: (current: SubscriptionRecord, at: Date) => SubscriptionRecord,
  ): Promise<SubscriptionRecord> {
    const guard = visible(principal, id);
    const actor = actorOf(principal, requestId);
    const updated = await deps.subscriptions.update(
      id,
      (current) => {
        guard(current);
        const at = now();
        const next = change(current, at);
        if (next === current) return current;
        return { ...next, signing: pruneSigning(next.signing, at) };
      },
      actor,
    );
    if (!updated) throw new NotFoundError('subscription', id);
    return updated;
  }

  /** Views of stored subscriptions with their delivery status, read at once for all of them (a list page). */
  async function views(records: readonly SubscriptionRecord[]): Promise<SubscriptionView[]> {
    const statuses = records.length > 0 ? await deps.deliveryStatus.read(records) : new Map<string, DeliveryStatus>();
    const at = now();
    return records.map((r) => toSubscriptionView(r, statuses.get(r.id), at));
  }

  return {
    views,

    async view(record: SubscriptionRecord): Promise<SubscriptionView> {
      return (await views([record]))[0]!;
    },

    async createSubscription(principal: Principal, input: CreateSubscriptionInput, requestId?: string) {
      if (principal.role === 'OPERATOR' && !input.tenantId) {
        throw new InvalidArgumentError([{ in: 'body', path: 'tenantId', message: 'required for operator keys' }]);
      }
      const scope = tenantScope(principal, input.tenantId);
      if (!scope.ok) throw new PermissionDeniedError(scope.detail);
      await checkUrl(input.endpointUrl, 'endpointUrl');
      await checkAuthUrls(input.auth);
      checkApiKeyHeader(input.auth, input.customHeaders);

      const id = uuidv7();
      const at = now();
      const signingSecret = generateSigningSecret();
      const record: SubscriptionRecord = {
        id,
        tenantId: scope.tenantId!,
        description: input.description ?? null,
        version: 1,
        status: input.status,
        match: { ...input.match },
        endpointUrl: input.endpointUrl,
        contentMode: input.contentMode,
        auth: sealAuth(input.auth, id),
        signing: { current: box.seal(signingSecret, id) },
        customHeaders: input.customHeaders,
        maxAttempts: input.maxAttempts ?? null,
        retrySchedule: input.retrySchedule ? retryScheduleMs(input.retrySchedule) : null,
        ordered: input.ordered,
        batch: input.batch ? { ...input.batch } : null,
        createdAt: at,
        updatedAt: at,
      };
      await deps.subscriptions.insert(record, actorOf(principal, requestId));
      return { record, signingSecret };
    },

    async getSubscription(principal: Principal, id: string): Promise<SubscriptionRecord> {
      const rec = await deps.subscriptions.get(id);
      if (!rec || !canAccessTenant(principal, rec.tenantId)) throw new NotFoundError('subscription', id);
      return rec;
    },

    async listSubscriptions(principal: Principal, q: ListSubscriptionsQuery) {
      const scope = tenantScope(principal, q.tenantId);
      if (!scope.ok) throw new PermissionDeniedError(scope.detail);
      const afterId = q.cursor ? decodeCursor(q.cursor) : undefined;
      const rows = await deps.subscriptions.list(
        {
          tenantId: scope.tenantId,
          status: q.status,
          sourceService: q.sourceService,
          eventType: q.eventType,
          resourceType: q.resourceType,
          operationType: q.operationType,
        },
        { limit: q.limit + 1, afterId },
      );
      const items = rows.slice(0, q.limit);
      const nextCursor = rows.length > q.limit ? encodeCursor(items[items.length - 1]!.id) : null;
      return { items, nextCursor };
    },

    /**
     * The ACTIVE subscriptions an event of `tenantId` with this match key is delivered to, found by the
     * event-processor's own matcher (SubscriptionIndex) over the tenant's active rows.
     */
    async subscriptionsByEvent(principal: Principal, tenantId: string | undefined, match: MatchKey) {
      if (principal.role === 'OPERATOR' && !tenantId) {
        throw new InvalidArgumentError([{ in: 'body', path: 'tenantId', message: 'required for operator keys' }]);
      }
      const scope = tenantScope(principal, tenantId);
      if (!scope.ok) throw new PermissionDeniedError(scope.detail);
      const tenant = scope.tenantId!;
      const index = new SubscriptionIndex();
      const byId = new Map<string, SubscriptionRecord>();
      const pageSize = 500;
      for (let afterId: string | undefined; ; ) {
        const rows = await deps.subscriptions.list(
          { tenantId: tenant, status: 'ACTIVE' },
          { limit: pageSize, afterId },
        );
        for (const r of rows) {
          index.apply(r.id, toSnapshot(r));
          byId.set(r.id, r);
        }
        if (rows.length < pageSize) break;
        afterId = rows[rows.length - 1]!.id;
      }
      return index
        .match({ tenantId: tenant, ...match })
        .map((s) => byId.get(s.id)!)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    },

    async patchSubscription(principal: Principal, id: string, input: PatchSubscriptionInput, requestId?: string) {
      // Validate what does not depend on the stored row before taking the row lock.
      if (input.endpointUrl !== undefined) await checkUrl(input.endpointUrl, 'endpointUrl');
      await checkAuthUrls(input.auth);
      const retrySchedule =
        input.retrySchedule === undefined || input.retrySchedule === null
          ? input.retrySchedule
          : retryScheduleMs(input.retrySchedule);
      return mutate(principal, id, requestId, (current) => {
        const next: SubscriptionRecord = {
          ...current,
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.match ? { match: { ...current.match, ...input.match } } : {}),
          ...(input.endpointUrl !== undefined ? { endpointUrl: input.endpointUrl } : {}),
          ...(input.contentMode ? { contentMode: input.contentMode } : {}),
          ...(input.auth ? { auth: patchAuth(input.auth, current.auth, id) } : {}),
          ...(input.customHeaders ? { customHeaders: input.customHeaders } : {}),
          ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
          ...(retrySchedule !== undefined ? { retrySchedule } : {}),
          ...(input.ordered !== undefined ? { ordered: input.ordered } : {}),
          ...(input.batch !== undefined ? { batch: input.batch === null ? null : { ...input.batch } } : {}),
          ...(input.status ? { status: input.status } : {}),
        };
        checkApiKeyHeader(next.auth, next.customHeaders);
        if (next.ordered && next.batch)
          throw new InvalidArgumentError([
            {
              in: 'body',
              path: input.batch ? 'batch' : 'ordered',
              message: BATCH_WITH_ORDERED,
            },
          ]);
        return next;
      });
    },

    async setStatus(principal: Principal, id: string, status: SubscriptionStatus, requestId?: string) {
      return mutate(principal, id, requestId, (current) =>
        current.status === status ? current : { ...current, status },
      );
    },

    async rotateSecret(principal: Principal, id: string, requestId?: string) {
      const signingSecret = generateSigningSecret();
      let expiresAt = '';
      const record = await mutate(principal, id, requestId, (current, at) => {
        expiresAt = new Date(at.getTime() + deps.rotationOverlapMs).toISOString();
        return {
          ...current,
          signing: {
            current: box.seal(signingSecret, id),
            previous: current.signing.current,
            previousExpiresAt: expiresAt,
          },
        };
      });
      return { record, signingSecret, previousSecretExpiresAt: expiresAt };
    },

    async deleteSubscription(principal: Principal, id: string, requestId?: string): Promise<void> {
      const deleted = await deps.subscriptions.delete(id, visible(principal, id), actorOf(principal, requestId));
      if (!deleted) throw new NotFoundError('subscription', id);
    },

    // ----- event types

    async createEventType(
      principal: Principal,
      input: CreateEventTypeInput,
      requestId?: string,
    ): Promise<EventTypeRecord> {
      requireOperator(principal);
      const at = now();
      try {
        return await deps.eventTypes.create(
          {
            id: uuidv7(),
            name: input.name,
            description: input.description ?? null,
            domain: input.domain,
            schemaRef: input.schemaRef ?? null,
            deprecated: input.deprecated,
            createdAt: at,
            updatedAt: at,
          },
          actorOf(principal, requestId),
        );
      } catch (err) {
        if (err instanceof DuplicateError) throw new ConflictError(`event type "${input.name}" already exists`);
        throw err;
      }
    },

    async getEventType(idOrName: string): Promise<EventTypeRecord> {
      const rec = await deps.eventTypes.get(idOrName);
      if (!rec) throw new NotFoundError('event type', idOrName);
      return rec;
    },

    async listEventTypes(filter: { domain?: EventTypeRecord['domain']; deprecated?: boolean }) {
      return deps.eventTypes.list(filter);
    },

    async patchEventType(principal: Principal, idOrName: string, input: PatchEventTypeInput, requestId?: string) {
      requireOperator(principal);
      const rec = await deps.eventTypes.get(idOrName);
      if (!rec) throw new NotFoundError('event type', idOrName);
      const actor = actorOf(principal, requestId);
      const updated = await deps.eventTypes.update(rec.id, { ...input, updatedAt: now() }, actor);
      if (!updated) throw new NotFoundError('event type', idOrName);
      return updated;
    },

    async deleteEventType(principal: Principal, idOrName: string, requestId?: string): Promise<void> {
      requireOperator(principal);
      const rec = await deps.eventTypes.get(idOrName);
      if (!rec || !(await deps.eventTypes.delete(rec.id, actorOf(principal, requestId))))
        throw new NotFoundError('event type', idOrName);
    },
  };
}

function requireOperator(principal: Principal): void {
  if (principal.role !== 'OPERATOR')
    throw new PermissionDeniedError('managing event types requires an operator API key');
}

/** The APIKEY auth header must not collide with a custom header (which one would win is unclear). */
function checkApiKeyHeader(auth: AuthInput | AuthSnapshot, customHeaders: Record<string, string>): void {
  if (auth.type !== 'APIKEY') return;
  const clash = Object.keys(customHeaders).find((h) => h.toLowerCase() === auth.headerName.toLowerCase());
  if (clash) {
    const errors: FieldViolation[] = [
      { in: 'body', path: `customHeaders.${clash}`, message: 'also used as auth.headerName' },
    ];
    throw new InvalidRequestError(`custom header "${clash}" collides with the API-key auth header`, errors);
  }
}
