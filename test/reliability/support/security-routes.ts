/**
 * Tenant isolation (reliability scenario 11): the routes of the three APIs as their OpenAPI documents list them,
 * and for each one how tenant A calls it with tenant B's ids and what it must answer. A route in a document
 * without an entry here fails the scenario: a new route needs its isolation case.
 */
import { request as httpRequest } from 'node:http';
import { request } from 'undici';
import type { HubUrls } from '../../../scripts/demo/hub-client';

export interface Call {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  api: keyof HubUrls;
  path: string;
  body?: unknown;
  /** Raw bytes instead of a JSON body. */
  raw?: Buffer;
  contentType?: string;
  note?: string;
  /** This call's acceptable statuses and check, when they differ from its route case's. */
  expect?: number[];
  check?: (res: CallResult) => boolean;
}

export interface CallResult {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export interface RouteCase {
  calls: Call[];
  /** Acceptable statuses. */
  expect: number[];
  /** Extra check on the answer (default: none). */
  check: (res: CallResult) => boolean;
}

export async function callRoute(urls: HubUrls, key: string, call: Call): Promise<CallResult> {
  const body = call.raw ?? (call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body)));
  if (body && body.length > 64 * 1024) return callOversized(`${urls[call.api]}${call.path}`, key, call, body);
  try {
    const res = await request(`${urls[call.api]}${call.path}`, {
      method: call.method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body ? { 'content-type': call.contentType ?? 'application/json' } : {}),
      },
      body,
      // A service that does not answer is a finding with a name, not a test hanging until jest gives up.
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return { status: res.statusCode, headers: flatHeaders(res.headers), text: await res.body.text() };
  } catch (err) {
    throw new Error(`${call.method} ${call.api}${call.path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Response or request headers as one string per name (repeated headers joined with ", "). */
export function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
  return flat;
}

/**
 * A large body through node:http. A server refusing it (413) answers and closes before reading it all; the client
 * then sees EPIPE/ECONNRESET while still writing, and a reset can even drop the answer before it is read (the
 * classic early-response race of HTTP/1.1). So: the answer wins over write errors, and a connection that closed
 * without one is tried again (a few times), so the call ends with the server's answer or a named error, never hangs.
 */
async function callOversized(url: string, key: string, call: Call, body: Buffer): Promise<CallResult> {
  let last: Error | undefined;
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      return await oversizedOnce(url, key, call, body);
    } catch (err) {
      last = err as Error;
      if (!(err as { retry?: boolean }).retry) throw err;
    }
  }
  throw new Error(`${call.method} ${url}: no answer in 5 tries (${last?.message})`);
}

function oversizedOnce(url: string, key: string, call: Call, body: Buffer): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let writeError: NodeJS.ErrnoException | undefined;
    const req = httpRequest(url, {
      method: call.method,
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': call.contentType ?? 'application/json',
        'content-length': String(body.length),
      },
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: flatHeaders(res.headers),
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') writeError = err;
      else reject(err);
    });
    // Closed without an answer (the reset won the race): retriable.
    req.on('close', () => {
      if (!answered)
        reject(
          Object.assign(new Error(`closed without an answer (${writeError?.code ?? 'no error'})`), { retry: true }),
        );
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.end(body);
  });
}

/** Routes of infrastructure without tenant data or auth (health, metrics, the documents themselves). */
const INFRA = /^(GET|HEAD) \/(healthz|readyz|livez|metrics|openapi\.json|docs)(\/.*)?$/;

/** `METHOD /path/:param` for every operation of every API's /openapi.json (infrastructure routes left out). */
export async function openApiRoutes(urls: HubUrls): Promise<string[]> {
  const routes: string[] = [];
  for (const api of ['subscriptionApi', 'dltApi', 'eventApi'] as const) {
    const res = await request(`${urls[api]}/openapi.json`);
    if (res.statusCode !== 200) throw new Error(`${api} /openapi.json answered ${res.statusCode}`);
    const doc = (await res.body.json()) as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths))
      for (const method of Object.keys(ops)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        const route = `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`;
        if (!INFRA.test(route)) routes.push(`${api} ${route}`);
      }
  }
  return routes;
}

export interface IsolationContext {
  a: { tenantId: string };
  b: { tenantId: string };
  bSubscriptionId: string;
  bApiKeyId: string;
  bFailedEventId: string;
  bReplayJobId: string;
  /** An inbound source of B (GITHUB: a call without X-Hub-Signature-256 is refused). */
  bInboundSourceId: string;
  eventType: string;
  rxUrl: string;
}

const DENIED = [403, 404];
const any = () => true;
/** A shared, tenant-free resource: readable by every key, and the answer names no tenant. */
const tenantFree = (ctx: IsolationContext) => (res: CallResult) => !res.text.includes(ctx.b.tenantId);

export function tenantIsolationTable(ctx: IsolationContext): Map<string, RouteCase> {
  const sub = `/v1/subscriptions/${ctx.bSubscriptionId}`;
  const fe = `/v1/failed-events/${ctx.bFailedEventId}`;
  const inbound = `/v1/inbound-sources/${ctx.bInboundSourceId}`;
  const match = { sourceService: '*', eventType: '*', resourceType: 'USER', operationType: 'CREATE' };
  const denied = (...calls: Call[]): RouteCase => ({ calls, expect: DENIED, check: any });
  const s = (method: Call['method'], path: string, body?: unknown, note?: string): Call => ({
    method,
    api: 'subscriptionApi',
    path,
    body,
    note,
  });
  const d = (method: Call['method'], path: string, body?: unknown, note?: string): Call => ({
    method,
    api: 'dltApi',
    path,
    body,
    note,
  });
  const ingest = (tenantId: string): Call => ({
    method: 'POST',
    api: 'eventApi',
    path: '/v1/events',
    contentType: 'application/cloudevents+json',
    raw: Buffer.from(
      JSON.stringify({
        specversion: '1.0',
        id: `iso-${Date.now()}`,
        source: '//identity',
        type: 'user.created',
        tenantid: tenantId,
        sourceservice: 'identity',
        resourcetype: 'USER',
        operationtype: 'CREATE',
        data: { userId: 'u-1' },
      }),
    ),
    note: `for tenant ${tenantId === ctx.b.tenantId ? 'B' : 'A'}`,
  });
  return new Map<string, RouteCase>([
    // subscription-api: subscriptions
    [
      'subscriptionApi POST /v1/subscriptions',
      denied(
        s('POST', '/v1/subscriptions', { tenantId: ctx.b.tenantId, match, endpointUrl: `${ctx.rxUrl}/x` }, 'for B'),
      ),
    ],
    ['subscriptionApi GET /v1/subscriptions', denied(s('GET', `/v1/subscriptions?tenantId=${ctx.b.tenantId}`))],
    ['subscriptionApi GET /v1/subscriptions/:id', denied(s('GET', sub))],
    ['subscriptionApi PATCH /v1/subscriptions/:id', denied(s('PATCH', sub, { description: 'taken over' }))],
    ['subscriptionApi DELETE /v1/subscriptions/:id', denied(s('DELETE', sub))],
    ['subscriptionApi POST /v1/subscriptions/:id/pause', denied(s('POST', `${sub}/pause`))],
    ['subscriptionApi POST /v1/subscriptions/:id/resume', denied(s('POST', `${sub}/resume`))],
    ['subscriptionApi POST /v1/subscriptions/:id/rotate-secret', denied(s('POST', `${sub}/rotate-secret`))],
    // subscription-api: the event type catalogue is shared (no tenant in it): tenants read, only operators write.
    [
      'subscriptionApi POST /v1/event-types',
      denied(s('POST', '/v1/event-types', { name: `${ctx.eventType}.a`, domain: 'access' })),
    ],
    [
      'subscriptionApi GET /v1/event-types',
      { calls: [s('GET', '/v1/event-types')], expect: [200], check: tenantFree(ctx) },
    ],
    [
      'subscriptionApi GET /v1/event-types/:idOrName',
      { calls: [s('GET', `/v1/event-types/${ctx.eventType}`)], expect: [200], check: tenantFree(ctx) },
    ],
    [
      'subscriptionApi PATCH /v1/event-types/:idOrName',
      denied(s('PATCH', `/v1/event-types/${ctx.eventType}`, { description: 'taken over' })),
    ],
    ['subscriptionApi DELETE /v1/event-types/:idOrName', denied(s('DELETE', `/v1/event-types/${ctx.eventType}`))],
    // subscription-api: API keys are operator business.
    [
      'subscriptionApi POST /v1/api-keys',
      denied(s('POST', '/v1/api-keys', { name: 'takeover', role: 'TENANT', tenantId: ctx.b.tenantId })),
    ],
    ['subscriptionApi GET /v1/api-keys', denied(s('GET', `/v1/api-keys?tenantId=${ctx.b.tenantId}`))],
    ['subscriptionApi DELETE /v1/api-keys/:id', denied(s('DELETE', `/v1/api-keys/${ctx.bApiKeyId}`))],
    // dlt-processor
    ['dltApi GET /v1/failed-events', denied(d('GET', `/v1/failed-events?tenantId=${ctx.b.tenantId}`))],
    ['dltApi GET /v1/failed-events/stats', denied(d('GET', `/v1/failed-events/stats?tenantId=${ctx.b.tenantId}`))],
    ['dltApi GET /v1/failed-events/:id', denied(d('GET', fe))],
    ['dltApi POST /v1/failed-events/:id/replay', denied(d('POST', `${fe}/replay`))],
    [
      'dltApi POST /v1/failed-events/replay',
      denied(
        d('POST', '/v1/failed-events/replay', { tenantId: ctx.b.tenantId }, 'for B'),
        d('POST', '/v1/failed-events/replay', { tenantId: ctx.b.tenantId, dryRun: true }, 'dry run for B'),
      ),
    ],
    ['dltApi GET /v1/replay-jobs/:id', denied(d('GET', `/v1/replay-jobs/${ctx.bReplayJobId}`))],
    [
      'dltApi GET /v1/lanes',
      denied(d('GET', `/v1/lanes?tenantId=${ctx.b.tenantId}&subscriptionId=${ctx.bSubscriptionId}`)),
    ],
    [
      'dltApi POST /v1/lanes/release',
      denied(
        d('POST', '/v1/lanes/release', {
          subscriptionId: ctx.bSubscriptionId,
          tenantId: ctx.b.tenantId,
          action: 'SKIP',
        }),
        d('POST', '/v1/lanes/release', {
          subscriptionId: ctx.bSubscriptionId,
          tenantId: ctx.b.tenantId,
          action: 'FAIL',
        }),
      ),
    ],
    // dlt-processor: the ledger API. B's failed-event id stands in for an id that does not exist for A (404 either way).
    ['dltApi GET /v1/events', denied(d('GET', `/v1/events?tenantId=${ctx.b.tenantId}`))],
    ['dltApi GET /v1/events/:eventId', denied(d('GET', `/v1/events/${ctx.bFailedEventId}`))],
    [
      'dltApi POST /v1/events/:eventId/replay',
      denied(
        d('POST', `/v1/events/${ctx.bFailedEventId}/replay`, {}),
        d('POST', `/v1/events/${ctx.bFailedEventId}/replay`, { subscriptionId: ctx.bSubscriptionId }, 'to B'),
      ),
    ],
    [
      'dltApi GET /v1/deliveries',
      denied(d('GET', `/v1/deliveries?tenantId=${ctx.b.tenantId}&subscriptionId=${ctx.bSubscriptionId}`)),
    ],
    [
      'dltApi GET /v1/deliveries/:eventId/:subscriptionId',
      denied(d('GET', `/v1/deliveries/${ctx.bFailedEventId}/${ctx.bSubscriptionId}`)),
    ],
    [
      'dltApi POST /v1/deliveries/recover',
      denied(
        d('POST', '/v1/deliveries/recover', { subscriptionId: ctx.bSubscriptionId, since: new Date(0).toISOString() }),
        d(
          'POST',
          '/v1/deliveries/recover',
          { subscriptionId: ctx.bSubscriptionId, since: new Date(0).toISOString(), dryRun: true },
          'dry run',
        ),
      ),
    ],
    ['dltApi GET /v1/recover-jobs/:id', denied(d('GET', `/v1/recover-jobs/${ctx.bReplayJobId}`))],
    // dlt-processor: the change audit. Naming B is a 403; asking for B's subscription's history without naming a
    // tenant answers A's own entries only, so nothing of B.
    [
      'dltApi GET /v1/audit',
      denied(
        d('GET', `/v1/audit?tenantId=${ctx.b.tenantId}`),
        d('GET', `/v1/audit?tenantId=${ctx.b.tenantId}&resourceType=subscription&resourceId=${ctx.bSubscriptionId}`),
        {
          ...d('GET', `/v1/audit?resourceType=subscription&resourceId=${ctx.bSubscriptionId}`, undefined, 'B resource'),
          expect: [200],
          check: (res) =>
            !res.text.includes(ctx.b.tenantId) &&
            !res.text.includes(ctx.bSubscriptionId) &&
            (JSON.parse(res.text) as { items: unknown[] }).items.length === 0,
        },
        {
          ...d('GET', '/v1/audit?limit=500', undefined, 'unfiltered'),
          expect: [200],
          check: (res) => !res.text.includes(ctx.b.tenantId) && !res.text.includes(ctx.bSubscriptionId),
        },
      ),
    ],
    // dlt-processor: a test event to B's subscription is refused like every other call naming it.
    [
      'dltApi POST /v1/test-deliveries',
      denied(d('POST', '/v1/test-deliveries', { subscriptionId: ctx.bSubscriptionId })),
    ],
    // dlt-processor: the overview's figures. Naming B is a 403; A's own figures carry no lag (the hub's, not A's).
    [
      'dltApi GET /v1/stats/overview',
      denied(d('GET', `/v1/stats/overview?tenantId=${ctx.b.tenantId}`), {
        ...d('GET', '/v1/stats/overview', undefined, 'own tenant'),
        expect: [200],
        check: (res) => !res.text.includes(ctx.b.tenantId) && (JSON.parse(res.text) as { lag: unknown }).lag === null,
      }),
    ],
    // dlt-processor: the operator console's API. The session names only the caller's own key; the forwarding routes
    // pass the caller's own key to the subscription-api, which denies B's subscriptions as it does directly.
    [
      'dltApi GET /console/api/session',
      {
        calls: [d('GET', '/console/api/session')],
        expect: [200],
        check: (res) => !res.text.includes(ctx.b.tenantId) && res.text.includes(ctx.a.tenantId),
      },
    ],
    [
      'dltApi GET /console/api/subscriptions',
      denied(d('GET', `/console/api/subscriptions?tenantId=${ctx.b.tenantId}`)),
    ],
    [
      'dltApi GET /console/api/subscriptions/:id',
      denied(d('GET', `/console/api/subscriptions/${ctx.bSubscriptionId}`)),
    ],
    [
      'dltApi POST /console/api/subscriptions/:id/:action',
      denied(
        d('POST', `/console/api/subscriptions/${ctx.bSubscriptionId}/pause`),
        d('POST', `/console/api/subscriptions/${ctx.bSubscriptionId}/resume`),
        d('POST', `/console/api/subscriptions/${ctx.bSubscriptionId}/rotate-secret`),
      ),
    ],
    // subscription-api: inbound sources are tenant-scoped like subscriptions.
    [
      'subscriptionApi POST /v1/inbound-sources',
      denied(
        s('POST', '/v1/inbound-sources', { tenantId: ctx.b.tenantId, name: 'x', verification: { scheme: 'GITHUB' } }),
      ),
    ],
    ['subscriptionApi GET /v1/inbound-sources', denied(s('GET', `/v1/inbound-sources?tenantId=${ctx.b.tenantId}`))],
    ['subscriptionApi GET /v1/inbound-sources/:id', denied(s('GET', inbound))],
    ['subscriptionApi PATCH /v1/inbound-sources/:id', denied(s('PATCH', inbound, { allowedCidrs: ['0.0.0.0/0'] }))],
    ['subscriptionApi DELETE /v1/inbound-sources/:id', denied(s('DELETE', inbound))],
    [
      'subscriptionApi POST /v1/inbound-sources/:id/rotate-secret',
      denied(s('POST', `${inbound}/rotate-secret`, { secret: 'chosen-by-tenant-a' })),
    ],
    // event-processor: HTTP ingest of an event of another tenant
    ['eventApi POST /v1/events', denied(ingest(ctx.b.tenantId))],
    // event-processor: B's inbound source called with A's API key: the route knows no API keys, only the source's
    // scheme, so it is a 401 (no GitHub signature) that names nothing of B.
    [
      'eventApi POST /v1/inbound/:sourceId',
      {
        calls: [
          {
            method: 'POST',
            api: 'eventApi',
            path: `/v1/inbound/${ctx.bInboundSourceId}`,
            body: { action: 'opened' },
            note: "B's source, A's key",
          },
        ],
        expect: [401],
        check: (res) => !res.text.includes(ctx.b.tenantId),
      },
    ],
  ]);
}
