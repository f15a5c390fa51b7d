/**
 * One delivery attempt: auth headers -> buildRequest -> send -> classify. Shared by the outbox processor (first
 * attempts and its retries) and the DLT processor (scheduled retries and operator replays): the same CloudEvent
 * id (`webhook-id`) every time, a fresh timestamp and signature on each attempt.
 *
 * Expected failures come back as values (`outcome: 'failed'` with a classified `failure`); this never throws.
 * An OAuth2 subscriber answering 401 gets one more try within the attempt, with a freshly fetched token.
 *
 * A batched subscription (`sub.batch`) gets every request as a CloudEvents JSON batch (buildBatchRequest):
 * `deliverBatch` sends several events at once (the outbox-processor's batcher, batch.ts); `deliverOnce` sends a batch
 * of one (scheduled retries and replays), so its subscriber sees one content type.
 */
import type { HubCloudEvent } from '../cloudevents/envelope';
import { errorMessage, type Failure, permanent, retriable } from '../errors';
import { batchOf, type SubscriptionSnapshot } from '../subscriptions/snapshot';
import type { AuthProvider, OpenSecret } from './auth-provider';
import { activeSigningSecrets, buildBatchRequest, buildRequest, type DeliveryRequest } from './build-request';
import { classifyError, classifyResponse } from './classify-response';
import type { Sender } from './send';

export interface DeliveryDeps {
  /** undici sender (HttpSender): pools, timeouts, capped read, SSRF guard. */
  sender: Sender;
  /** Auth headers per subscription (OAuth2 token cache). One per process, shared by all deliveries. */
  auth: AuthProvider;
  /** Unseals a subscription secret (SecretBox.open with aad = subscription id). */
  open: OpenSecret;
  now?: () => Date;
}

export interface DeliveryResult {
  outcome: 'delivered' | 'failed';
  failure?: Failure;
  /** HTTP status, when the subscriber answered. */
  status?: number;
  durationMs: number;
  /** First characters of the subscriber's answer (deliverOnce always sets it, '' when none); no hub secret. */
  responseSnippet?: string;
  /**
   * Set when the event went in a batch of several (the outbox-processor's batcher): its size, and whether this event
   * speaks for the batch (the breaker counts a request once, not once per event).
   */
  batch?: { size: number; leader: boolean };
}

/** Builds the request from the secrets, auth headers and clock of the attempt. */
type Build = (signing: string[], authHeaders: Record<string, string>, now: Date) => DeliveryRequest;

export function deliverOnce(
  event: HubCloudEvent,
  sub: SubscriptionSnapshot,
  deps: DeliveryDeps,
): Promise<DeliveryResult> {
  if (batchOf(sub)) return deliverBatch([event], sub, deps);
  return deliverWith((signing, auth, now) => buildRequest(event, sub, { signing }, auth, now), sub, deps);
}

/** One request holding all of `events` (in order), for a batched subscription: one result for all of them. */
export function deliverBatch(
  events: readonly HubCloudEvent[],
  sub: SubscriptionSnapshot,
  deps: DeliveryDeps,
): Promise<DeliveryResult> {
  return deliverWith((signing, auth, now) => buildBatchRequest(events, sub, { signing }, auth, now), sub, deps);
}

async function deliverWith(build: Build, sub: SubscriptionSnapshot, deps: DeliveryDeps): Promise<DeliveryResult> {
  const started = performance.now();
  try {
    const first = await attempt(build, sub, deps);
    // An expired or revoked OAuth token: drop exactly that token and try once more with a fresh one.
    if (first.result.status === 401 && sub.auth.type === 'OAUTH2') {
      deps.auth.invalidate(sub.id, first.bearer);
      const second = await attempt(build, sub, deps);
      return { ...second.result, durationMs: Math.round(performance.now() - started) };
    }
    return first.result;
  } catch (err) {
    // Not expected (every stage returns failures as values); still a value, so no caller can stall on it.
    return {
      outcome: 'failed',
      failure: retriable('DELIVERY.INTERNAL', errorMessage(err)),
      durationMs: Math.round(performance.now() - started),
      responseSnippet: '',
    };
  }
}

async function attempt(
  build: Build,
  sub: SubscriptionSnapshot,
  deps: DeliveryDeps,
): Promise<{ result: DeliveryResult; bearer?: string }> {
  const now = deps.now?.() ?? new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const auth = await deps.auth.headersFor(sub);
  if (!auth.ok)
    return { result: { outcome: 'failed', failure: auth.failure, durationMs: elapsed(), responseSnippet: '' } };
  const bearer = auth.headers.authorization?.startsWith('Bearer ') ? auth.headers.authorization.slice(7) : undefined;
  let signing: string[];
  try {
    signing = activeSigningSecrets(sub, (s) => deps.open(s, sub.id), now);
  } catch {
    return {
      result: {
        outcome: 'failed',
        failure: permanent('DELIVERY.SIGNING_SECRET', `signing secret of subscription ${sub.id} cannot be opened`),
        durationMs: elapsed(),
        responseSnippet: '',
      },
    };
  }
  const request = build(signing, auth.headers, now);
  try {
    const res = await deps.sender.send(request);
    const c = classifyResponse(res.status, res.headers, now);
    const base = { status: res.status, durationMs: elapsed(), responseSnippet: res.snippet };
    return {
      bearer,
      result: c.delivered ? { outcome: 'delivered', ...base } : { outcome: 'failed', failure: c.failure, ...base },
    };
  } catch (err) {
    return {
      bearer,
      result: { outcome: 'failed', failure: classifyError(err), durationMs: elapsed(), responseSnippet: '' },
    };
  }
}
