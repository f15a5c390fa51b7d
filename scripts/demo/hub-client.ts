/**
 * A small typed client for the hub's REST APIs, used by `npm run demo`, the end-to-end test and the README's
 * examples (same routes as the curl examples). Errors carry the problem+json body.
 */
import { request } from 'undici';

export class HubApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly problem: unknown,
  ) {
    super(`${method} ${path} answered ${status}: ${JSON.stringify(problem)}`);
    this.name = 'HubApiError';
  }
}

export interface SubscriptionInput {
  tenantId?: string;
  description?: string;
  match: { sourceService: string; eventType: string; resourceType: string; operationType: string };
  endpointUrl: string;
  contentMode?: 'BINARY' | 'STRUCTURED';
  auth?: Record<string, unknown>;
  customHeaders?: Record<string, string>;
  maxAttempts?: number;
  ordered?: boolean;
  /** Delays between scheduled retries, e.g. ["5s", "5m"]; default the hub's DELIVERY_RETRY_SCHEDULE. */
  retrySchedule?: string[];
}

export interface CreatedSubscription {
  id: string;
  tenantId: string;
  signingSecret: string;
}

export interface FailedEventSummary {
  id: string;
  eventId: string;
  subscriptionId: string;
  tenantId: string;
  status: string;
  attempts?: number;
  [k: string]: unknown;
}

export interface HubUrls {
  subscriptionApi: string;
  eventApi: string;
  dltApi: string;
}

/**
 * A hub that stops answering is an error here, not a caller waiting forever (undici's default is 5 min): a
 * `waitUntil` probe then fails and is retried instead of hanging. A replay answers within the delivery timeout.
 */
const TIMEOUTS = { headersTimeout: 60_000, bodyTimeout: 60_000 };

export function hubClient(urls: HubUrls, apiKey: string) {
  const call = async <T>(base: string, method: string, path: string, body?: unknown, ok = [200, 201, 202, 204]) => {
    const res = await request(`${base}${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...TIMEOUTS,
    });
    const text = await res.body.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!ok.includes(res.statusCode)) throw new HubApiError(res.statusCode, method, path, parsed);
    return { status: res.statusCode, body: parsed as T };
  };

  return {
    async createApiKey(input: { name: string; role: 'TENANT' | 'OPERATOR'; tenantId?: string }) {
      return (await call<{ id: string; key: string }>(urls.subscriptionApi, 'POST', '/v1/api-keys', input)).body;
    },
    /** Creates the event type, or leaves an existing one of that name as it is. */
    async ensureEventType(input: { name: string; domain: string; description?: string }) {
      const r = await call<{ id: string }>(urls.subscriptionApi, 'POST', '/v1/event-types', input, [201, 409]);
      return r.status === 201 ? 'created' : 'exists';
    },
    async createSubscription(input: SubscriptionInput) {
      return (await call<CreatedSubscription>(urls.subscriptionApi, 'POST', '/v1/subscriptions', input)).body;
    },
    /** Pause (deliveries are held) or resume (held deliveries are delivered) a subscription. */
    async setSubscriptionState(id: string, action: 'pause' | 'resume') {
      return (
        await call<{ status: string }>(
          urls.subscriptionApi,
          'POST',
          `/v1/subscriptions/${encodeURIComponent(id)}/${action}`,
          undefined,
        )
      ).body;
    },
    async deleteSubscription(id: string) {
      await call(urls.subscriptionApi, 'DELETE', `/v1/subscriptions/${encodeURIComponent(id)}`);
    },
    /** HTTP ingest: one CloudEvent in structured mode (`application/cloudevents+json`). */
    async ingest(event: Record<string, unknown>) {
      const res = await request(`${urls.eventApi}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
        ...TIMEOUTS,
      });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new HubApiError(res.statusCode, 'POST', '/v1/events', safeJson(text));
      return safeJson(text);
    },
    async listFailedEvents(query: Record<string, string | undefined>) {
      const items: FailedEventSummary[] = [];
      let cursor: string | undefined;
      do {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries({ ...query, cursor })) if (v !== undefined) q.set(k, v);
        const page = (
          await call<{ items: FailedEventSummary[]; nextCursor: string | null }>(
            urls.dltApi,
            'GET',
            `/v1/failed-events?${q}`,
          )
        ).body;
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return items;
    },
    async getFailedEvent(id: string) {
      return (
        await call<FailedEventSummary & { attempts: unknown[] }>(
          urls.dltApi,
          'GET',
          `/v1/failed-events/${encodeURIComponent(id)}`,
        )
      ).body;
    },
    async replay(id: string) {
      return (
        await call<Record<string, unknown>>(urls.dltApi, 'POST', `/v1/failed-events/${encodeURIComponent(id)}/replay`)
      ).body;
    },
    async stats() {
      return (await call<Record<string, unknown>>(urls.dltApi, 'GET', '/v1/failed-events/stats')).body;
    },
  };
}

export type HubClient = ReturnType<typeof hubClient>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Polls `probe` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
