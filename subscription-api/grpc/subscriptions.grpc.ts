/**
 * SubscriptionService over gRPC: each method maps its request to the REST body shape, validates it with the
 * REST zod schema, calls the same use case (service.ts), and maps the REST view (never a secret) back.
 *
 *   proto request ─▶ REST shape ─▶ zod (schemas.ts) ─▶ service ─▶ SubscriptionView ─▶ proto Subscription
 *
 * Field violations name proto fields (`subscription.auth.basic.password`, `page_size`).
 */
import type { Principal } from '../../pipeline/shared/auth/api-key';
import { type GrpcCallContext, unary } from '../../pipeline/shared/grpc/server.grpc';
import { type FieldPathMapper, snakeCasePath } from '../../pipeline/shared/grpc/status';
import { enumName, given, idOfName, PROTO_PATH, parseAs, toTimestamp } from '../../pipeline/shared/grpc/validate';
import type { FieldError } from '../../pipeline/shared/http/problem';
import { validationFailed } from '../../pipeline/shared/http/problem';
import {
  type Auth,
  ContentMode,
  type CreateSubscriptionResponse,
  type GetSubscriptionsByEventResponse,
  type ListSubscriptionsResponse,
  type RotateSubscriptionSecretResponse,
  type Subscription,
  type SubscriptionServiceServer,
  SubscriptionServiceService,
  SubscriptionStatus,
} from '../../schemas/proto/gen/integrationhub/v1/subscription';
import {
  type AuthView,
  createSubscriptionBody,
  listSubscriptionsQuery,
  matchKeyInput,
  patchSubscriptionBody,
  type SubscriptionView,
  tenantIdSchema,
} from '../schemas';
import { type SubscriptionService, toSubscriptionView } from '../service';

const STATUS_NAMES: Record<number, string> = {
  [SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE]: 'ACTIVE',
  [SubscriptionStatus.SUBSCRIPTION_STATUS_PAUSED]: 'PAUSED',
};
const CONTENT_MODE_NAMES: Record<number, string> = {
  [ContentMode.CONTENT_MODE_BINARY]: 'BINARY',
  [ContentMode.CONTENT_MODE_STRUCTURED]: 'STRUCTURED',
};

export const subscriptionName = (id: string) => `subscriptions/${id}`;

/** Proto auth -> REST auth input (empty secret = not given: keeps the stored one on update). */
function authInput(a: Auth | undefined): Record<string, unknown> | undefined {
  const t = a?.type;
  if (!t) return undefined;
  switch (t.$case) {
    case 'none':
      return { type: 'NONE' };
    case 'basic':
      return { type: 'BASIC', username: t.value.username, password: given(t.value.password) };
    case 'oauth2':
      return {
        type: 'OAUTH2',
        clientId: t.value.clientId,
        clientSecret: given(t.value.clientSecret),
        tokenUrl: t.value.tokenUrl,
        scope: given(t.value.scope),
      };
    case 'jwt':
      return { type: 'JWT', token: given(t.value.token) };
    case 'apiKey':
      return { type: 'APIKEY', headerName: t.value.headerName, key: given(t.value.key) };
  }
}

/** Drops undefined members (zod's strict objects see `key: undefined` as given). */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function authView(a: AuthView): Auth {
  switch (a.type) {
    case 'NONE':
      return { type: { $case: 'none', value: {} } };
    case 'BASIC':
      return { type: { $case: 'basic', value: { username: a.username, password: '', passwordSet: true } } };
    case 'OAUTH2':
      return {
        type: {
          $case: 'oauth2',
          value: {
            clientId: a.clientId,
            clientSecret: '',
            tokenUrl: a.tokenUrl,
            ...(a.scope !== undefined ? { scope: a.scope } : {}),
            clientSecretSet: true,
          },
        },
      };
    case 'JWT':
      return { type: { $case: 'jwt', value: { token: '', tokenSet: true } } };
    case 'APIKEY':
      return { type: { $case: 'apiKey', value: { headerName: a.headerName, key: '', keySet: true } } };
  }
}

export function toProtoSubscription(v: SubscriptionView): Subscription {
  return {
    name: subscriptionName(v.id),
    id: v.id,
    tenantId: v.tenantId,
    ...(v.description !== null ? { description: v.description } : {}),
    status:
      v.status === 'ACTIVE'
        ? SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE
        : SubscriptionStatus.SUBSCRIPTION_STATUS_PAUSED,
    match: { ...v.match },
    endpointUrl: v.endpointUrl,
    contentMode: v.contentMode === 'BINARY' ? ContentMode.CONTENT_MODE_BINARY : ContentMode.CONTENT_MODE_STRUCTURED,
    auth: authView(v.auth),
    customHeaders: { ...v.customHeaders },
    ...(v.maxAttempts !== null ? { maxAttempts: v.maxAttempts } : {}),
    retrySchedule: v.retrySchedule ?? [],
    ordered: v.ordered,
    ...(v.batch !== null ? { batch: { maxEvents: v.batch.maxEvents, maxWaitMs: v.batch.maxWaitMs } } : {}),
    held: {
      count: v.held.count,
      ...(v.held.oldestAgeSeconds !== null ? { oldestAgeSeconds: v.held.oldestAgeSeconds } : {}),
    },
    health: {
      failing: v.health.failing,
      exhaustedDeliveries: v.health.exhaustedDeliveries,
      lastExhaustedTime: toTimestamp(v.health.lastExhaustedAt),
    },
    previousSecretExpireTime: toTimestamp(v.signing.previousSecretExpiresAt),
    version: v.version,
    createTime: toTimestamp(v.createdAt),
    updateTime: toTimestamp(v.updatedAt),
  };
}

/**
 * REST field paths -> proto paths under `prefix`: snake_case, the auth oneof case inserted
 * (`auth.password` -> `auth.basic.password`). Paths already in proto terms are kept.
 */
function protoPaths(prefix: string, auth: Auth | undefined, renames: Record<string, string> = {}): FieldPathMapper {
  const authCase = auth?.type ? snakeCasePath(auth.type.$case) : undefined;
  return (e: FieldError) => {
    if (e.in === PROTO_PATH) return e.path;
    let p = snakeCasePath(renames[e.path] ?? e.path);
    if (authCase && (p === 'auth' || p.startsWith('auth.'))) {
      p = p === 'auth' ? `auth.${authCase}` : `auth.${authCase}.${p.slice('auth.'.length)}`;
    }
    return prefix + p;
  };
}

/** A proto Subscription -> the REST create body. */
function createBody(s: Subscription | undefined): Record<string, unknown> {
  if (!s) throw validationFailed([{ in: PROTO_PATH, path: 'subscription', message: 'required' }]);
  return defined({
    tenantId: given(s.tenantId),
    description: s.description,
    match: s.match,
    endpointUrl: s.endpointUrl,
    contentMode: enumName(s.contentMode, CONTENT_MODE_NAMES),
    auth: authInput(s.auth) && defined(authInput(s.auth)!),
    customHeaders: Object.keys(s.customHeaders).length > 0 ? s.customHeaders : undefined,
    maxAttempts: s.maxAttempts,
    retrySchedule: s.retrySchedule.length > 0 ? s.retrySchedule : undefined,
    ordered: s.ordered || undefined,
    batch: s.batch ? { maxEvents: s.batch.maxEvents, maxWaitMs: s.batch.maxWaitMs } : undefined,
    status: enumName(s.status, STATUS_NAMES),
  });
}

const MATCH_PARTS = ['source_service', 'event_type', 'resource_type', 'operation_type'] as const;
const camel = (p: string) => p.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** update_mask paths -> the REST patch body (a path whose field is unset clears it). */
function patchBody(s: Subscription | undefined, mask: string[] | undefined): Record<string, unknown> {
  if (!s) throw validationFailed([{ in: PROTO_PATH, path: 'subscription', message: 'required' }]);
  const paths = mask ?? [];
  if (paths.length === 0) {
    throw validationFailed([{ in: PROTO_PATH, path: 'update_mask', message: 'name the fields to update' }]);
  }
  const body: Record<string, unknown> = {};
  const bad: FieldError[] = [];
  paths.forEach((path, i) => {
    if (path === 'match' || path.startsWith('match.')) {
      const parts = path === 'match' ? MATCH_PARTS : [path.slice('match.'.length)];
      const match = (body.match ?? {}) as Record<string, unknown>;
      for (const part of parts) {
        if (!(MATCH_PARTS as readonly string[]).includes(part)) {
          bad.push({ in: PROTO_PATH, path: `update_mask.paths[${i}]`, message: `no field "${path}"` });
          continue;
        }
        match[camel(part)] = s.match?.[camel(part) as keyof NonNullable<Subscription['match']>] ?? '';
      }
      body.match = match;
      return;
    }
    switch (path) {
      case 'description':
        body.description = s.description ?? null;
        break;
      case 'endpoint_url':
        body.endpointUrl = s.endpointUrl;
        break;
      case 'content_mode':
        body.contentMode = enumName(s.contentMode, CONTENT_MODE_NAMES) ?? 'CONTENT_MODE_UNSPECIFIED';
        break;
      case 'auth': {
        const a = authInput(s.auth);
        body.auth = a ? defined(a) : { type: 'NONE' };
        break;
      }
      case 'custom_headers':
        body.customHeaders = s.customHeaders;
        break;
      case 'max_attempts':
        body.maxAttempts = s.maxAttempts ?? null;
        break;
      case 'retry_schedule':
        body.retrySchedule = s.retrySchedule.length > 0 ? s.retrySchedule : null;
        break;
      case 'ordered':
        body.ordered = s.ordered;
        break;
      case 'batch':
        body.batch = s.batch ? { maxEvents: s.batch.maxEvents, maxWaitMs: s.batch.maxWaitMs } : null;
        break;
      case 'status':
        body.status = enumName(s.status, STATUS_NAMES) ?? 'SUBSCRIPTION_STATUS_UNSPECIFIED';
        break;
      default:
        bad.push({ in: PROTO_PATH, path: `update_mask.paths[${i}]`, message: `"${path}" cannot be updated` });
    }
  });
  if (bad.length > 0) throw validationFailed(bad);
  return body;
}

export function subscriptionServiceImpl(ctx: GrpcCallContext, service: SubscriptionService): SubscriptionServiceServer {
  const view = async (record: Parameters<SubscriptionService['view']>[0]) =>
    toProtoSubscription(await service.view(record));
  const byName =
    (fn: (p: Principal, id: string) => Promise<Parameters<SubscriptionService['view']>[0]>) =>
    async (p: Principal, req: { name: string }) =>
      view(await fn(p, idOfName(req.name, 'subscriptions')));

  return {
    createSubscription: unary(
      ctx,
      'CreateSubscription',
      async (p, req): Promise<CreateSubscriptionResponse> => {
        const input = parseAs(createSubscriptionBody, createBody(req.subscription));
        const { record, signingSecret } = await service.createSubscription(p, input);
        ctx.log.info({ subscriptionId: record.id, tenantId: record.tenantId }, 'subscription created (gRPC)');
        return { subscription: toProtoSubscription(toSubscriptionView(record)), signingSecret };
      },
      (req) => protoPaths('subscription.', req.subscription?.auth),
    ),

    getSubscription: unary(
      ctx,
      'GetSubscription',
      byName((p, id) => service.getSubscription(p, id)),
    ),

    listSubscriptions: unary(
      ctx,
      'ListSubscriptions',
      async (p, req): Promise<ListSubscriptionsResponse> => {
        const q = parseAs(
          listSubscriptionsQuery,
          defined({
            tenantId: given(req.tenantId),
            sourceService: given(req.sourceService),
            eventType: given(req.eventType),
            resourceType: given(req.resourceType),
            operationType: given(req.operationType),
            status: enumName(req.status, STATUS_NAMES),
            limit: req.pageSize === 0 ? undefined : req.pageSize,
            cursor: given(req.pageToken),
          }),
          'querystring',
        );
        const page = await service.listSubscriptions(p, q);
        return {
          subscriptions: (await service.views(page.items)).map(toProtoSubscription),
          nextPageToken: page.nextCursor ?? '',
        };
      },
      () => protoPaths('', undefined, { limit: 'pageSize', cursor: 'pageToken' }),
    ),

    updateSubscription: unary(
      ctx,
      'UpdateSubscription',
      async (p, req) => {
        const id = idOfName(req.subscription?.name ?? '', 'subscriptions', 'subscription.name');
        const input = parseAs(patchSubscriptionBody, patchBody(req.subscription, req.updateMask));
        const record = await service.patchSubscription(p, id, input);
        ctx.log.info({ subscriptionId: record.id, version: record.version }, 'subscription updated (gRPC)');
        return view(record);
      },
      (req) => protoPaths('subscription.', req.subscription?.auth),
    ),

    deleteSubscription: unary(ctx, 'DeleteSubscription', async (p, req) => {
      const id = idOfName(req.name, 'subscriptions');
      await service.deleteSubscription(p, id);
      ctx.log.info({ subscriptionId: id }, 'subscription deleted (gRPC)');
      return {};
    }),

    pauseSubscription: unary(
      ctx,
      'PauseSubscription',
      byName((p, id) => service.setStatus(p, id, 'PAUSED')),
    ),
    resumeSubscription: unary(
      ctx,
      'ResumeSubscription',
      byName((p, id) => service.setStatus(p, id, 'ACTIVE')),
    ),

    rotateSubscriptionSecret: unary(
      ctx,
      'RotateSubscriptionSecret',
      async (p, req): Promise<RotateSubscriptionSecretResponse> => {
        const r = await service.rotateSecret(p, idOfName(req.name, 'subscriptions'));
        ctx.log.info({ subscriptionId: r.record.id }, 'signing secret rotated (gRPC)');
        return {
          name: subscriptionName(r.record.id),
          signingSecret: r.signingSecret,
          previousSecretExpireTime: toTimestamp(r.previousSecretExpiresAt),
          version: r.record.version,
        };
      },
    ),

    getSubscriptionsByEvent: unary(
      ctx,
      'GetSubscriptionsByEvent',
      async (p, req): Promise<GetSubscriptionsByEventResponse> => {
        const input = parseAs(
          matchKeyInput.extend({ tenantId: tenantIdSchema.optional() }).strict(),
          defined({ tenantId: given(req.tenantId), ...(req.match ?? {}) }),
        );
        const { tenantId, ...match } = input;
        const records = await service.subscriptionsByEvent(p, tenantId, match);
        return { subscriptions: (await service.views(records)).map(toProtoSubscription) };
      },
      () => (e) => (e.path === 'tenantId' || e.path === '' ? snakeCasePath(e.path) : `match.${snakeCasePath(e.path)}`),
    ),
  };
}

export const subscriptionServiceBinding = (ctx: GrpcCallContext, service: SubscriptionService) => ({
  name: 'integrationhub.v1.SubscriptionService',
  definition: SubscriptionServiceService,
  implementation: subscriptionServiceImpl(ctx, service),
});
