/**
 * One delivery attempt: auth -> buildRequest -> send -> classify. Shared by the outbox processor (first
 * attempts and retries) and the DLT processor (scheduled retries and operator replays): the same CloudEvent id
 * (`webhook-id`) every time, a fresh timestamp and signature each attempt.
 */
import type { HubCloudEvent } from '../cloudevents/envelope';
import type { Failure } from '../errors';
import type { SubscriptionSnapshot } from '../subscriptions/snapshot';
import type { AuthProvider, OpenSecret } from './auth-provider';
import { activeSigningSecrets, buildRequest } from './build-request';
import { classifyError, classifyResponse } from './classify-response';
import type { HttpSender } from './send';

export interface DeliveryDeps {
  sender: Pick<HttpSender, 'send'>;
  auth: AuthProvider;
  open: OpenSecret;
  now?: () => Date;
}

export interface DeliveryResult {
  outcome: 'delivered' | 'failed';
  failure?: Failure;
  status?: number;
  durationMs: number;
  responseSnippet?: string;
}

export async function deliverOnce(
  event: HubCloudEvent,
  sub: SubscriptionSnapshot,
  deps: DeliveryDeps,
): Promise<DeliveryResult> {
  const first = await attempt(event, sub, deps);
  // An expired or revoked OAuth token: drop it and try once more with a fresh one.
  if (first.status === 401 && sub.auth.type === 'OAUTH2') {
    deps.auth.invalidate(sub.id);
    const second = await attempt(event, sub, deps);
    return { ...second, durationMs: first.durationMs + second.durationMs };
  }
  return first;
}

async function attempt(event: HubCloudEvent, sub: SubscriptionSnapshot, deps: DeliveryDeps): Promise<DeliveryResult> {
  const now = deps.now?.() ?? new Date();
  const started = performance.now();
  const auth = await deps.auth.headersFor(sub);
  if (!auth.ok)
    return { outcome: 'failed', failure: auth.failure, durationMs: Math.round(performance.now() - started) };
  let signingSecrets: string[];
  try {
    signingSecrets = activeSigningSecrets(sub, (s) => deps.open(s, sub.id), now);
  } catch (err) {
    return {
      outcome: 'failed',
      failure: { kind: 'permanent', code: 'DELIVERY.SIGNING_SECRET', message: (err as Error).message },
      durationMs: Math.round(performance.now() - started),
    };
  }
  const request = buildRequest(event, sub, { signingSecrets, authHeaders: auth.headers, now });
  try {
    const res = await deps.sender.send(request);
    const c = classifyResponse(res.status, res.headers, now);
    const durationMs = Math.round(performance.now() - started);
    if (c.delivered) return { outcome: 'delivered', status: res.status, durationMs, responseSnippet: res.snippet };
    return { outcome: 'failed', failure: c.failure, status: res.status, durationMs, responseSnippet: res.snippet };
  } catch (err) {
    return { outcome: 'failed', failure: classifyError(err), durationMs: Math.round(performance.now() - started) };
  }
}
