/**
 * Builds the subscriber request for one CloudEvent (pure: no clock, no I/O, no secrets opened here).
 *
 * - CloudEvents HTTP binding: BINARY (default) puts the attributes in `ce-*` headers, `content-type` =
 *   `datacontenttype` and the data bytes untouched as the body; STRUCTURED sends `application/cloudevents+json`.
 * - Standard Webhooks: `webhook-id` = the CloudEvent id (the subscriber's dedupe key, stable across retries and
 *   replays), `webhook-timestamp` (unix seconds), `webhook-signature` (one `v1,<sig>` per active secret).
 * - `traceparent`, the subscription's static headers (which can never override the hub's own headers), the
 *   auth headers, and the hub's user-agent.
 */
import { createHash } from 'node:crypto';
import { type HubCloudEvent, toStructuredJson } from '../cloudevents/envelope';
import type { SubscriptionSnapshot } from '../subscriptions/snapshot';
import { signatureHeader } from './sign';

export interface DeliveryRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: Buffer;
}

export const USER_AGENT = 'IntegrationHub/0.1 (+https://github.com/integration-hub)';

/**
 * The signing secrets valid at `now`: the current one, plus the previous one while its rotation overlap lasts
 * (`previousExpiresAt` in the future). `open` unseals a secret; it is called only for the secrets used.
 */
export function activeSigningSecrets(
  sub: Pick<SubscriptionSnapshot, 'signing'>,
  open: (sealed: string) => string,
  now: Date,
): string[] {
  const secrets = [open(sub.signing.current)];
  const { previous, previousExpiresAt } = sub.signing;
  if (previous && previousExpiresAt && Date.parse(previousExpiresAt) > now.getTime()) secrets.push(open(previous));
  return secrets;
}

/** Headers the hub owns: neither static custom headers nor an APIKEY header name may set them. */
const RESERVED =
  /^(ce-|webhook-|content-type$|content-length$|host$|authorization$|traceparent$|tracestate$|user-agent$|transfer-encoding$|connection$|keep-alive$|upgrade$|expect$|te$|trailer$|proxy-)/i;

export const isReservedHeader = (name: string): boolean => RESERVED.test(name);

/** The content type of a batched delivery (CloudEvents JSON batch format). */
export const BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json; charset=utf-8';

/**
 * The `webhook-id` of a batch: the event's own id for a batch of one (a scheduled retry or a replay of one event of a
 * batched subscription: stable, as for unbatched deliveries); for more, `batch_` and a digest of the events' ids in
 * order (the same events in the same order get the same id; subscribers deduplicate by each CloudEvent's `id`).
 */
export function batchWebhookId(events: readonly HubCloudEvent[]): string {
  if (events.length === 1) return events[0]!.id;
  const h = createHash('sha256');
  for (const e of events) h.update(e.id).update('\n');
  return `batch_${h.digest('base64url').slice(0, 32)}`;
}

/**
 * The request of a batched subscription: the events as a CloudEvents JSON batch (`[<structured event>, …]`, the
 * subscription's content mode does not apply), one `webhook-id` (batchWebhookId) and one signature over the whole
 * body. No `traceparent` header: each event carries its own in the batch.
 */
export function buildBatchRequest(
  events: readonly HubCloudEvent[],
  sub: Pick<SubscriptionSnapshot, 'endpointUrl' | 'customHeaders'>,
  secrets: { signing: string[] },
  authHeaders: Record<string, string>,
  now: Date,
): DeliveryRequest {
  const headers = baseHeaders(sub, authHeaders);
  const body = Buffer.from(`[${events.map(toStructuredJson).join(',')}]`);
  headers['content-type'] = BATCH_CONTENT_TYPE;
  return signed(sub.endpointUrl, headers, body, batchWebhookId(events), secrets, now);
}

/** The subscription's static headers and the auth headers, never over a header the hub owns. */
function baseHeaders(
  sub: Pick<SubscriptionSnapshot, 'customHeaders'>,
  authHeaders: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(sub.customHeaders)) if (!isReservedHeader(k)) headers[k.toLowerCase()] = v;
  // Auth uses `authorization` or, for APIKEY, a configured header name; that name still may not clobber a hub
  // header (an APIKEY named `webhook-signature` would otherwise forge the signature header).
  for (const [k, v] of Object.entries(authHeaders)) {
    const name = k.toLowerCase();
    if (name === 'authorization' || !isReservedHeader(name)) headers[name] = v;
  }
  return headers;
}

/** Standard Webhooks headers and the user-agent on a finished body. */
function signed(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  id: string,
  secrets: { signing: string[] },
  now: Date,
): DeliveryRequest {
  const timestamp = Math.floor(now.getTime() / 1000);
  headers['webhook-id'] = id;
  headers['webhook-timestamp'] = String(timestamp);
  headers['webhook-signature'] = signatureHeader(secrets.signing, id, timestamp, body);
  headers['user-agent'] = USER_AGENT;
  return { url, method: 'POST', headers, body };
}

export function buildRequest(
  event: HubCloudEvent,
  sub: Pick<SubscriptionSnapshot, 'endpointUrl' | 'contentMode' | 'customHeaders'>,
  secrets: { signing: string[] },
  authHeaders: Record<string, string>,
  now: Date,
): DeliveryRequest {
  const headers = baseHeaders(sub, authHeaders);
  let body: Buffer;
  if (sub.contentMode === 'STRUCTURED') {
    body = Buffer.from(toStructuredJson(event));
    headers['content-type'] = 'application/cloudevents+json; charset=utf-8';
  } else {
    body = event.data;
    headers['ce-specversion'] = event.specversion;
    headers['ce-id'] = encodeHeaderValue(event.id);
    headers['ce-source'] = encodeHeaderValue(event.source);
    headers['ce-type'] = encodeHeaderValue(event.type);
    if (event.time) headers['ce-time'] = encodeHeaderValue(event.time);
    if (event.subject) headers['ce-subject'] = encodeHeaderValue(event.subject);
    if (event.dataschema) headers['ce-dataschema'] = encodeHeaderValue(event.dataschema);
    for (const [k, v] of Object.entries(event.extensions)) {
      // traceparent travels as the W3C header of the same name (the CloudEvents distributed-tracing extension).
      if (k !== 'traceparent') headers[`ce-${k}`] = encodeHeaderValue(v);
    }
    if (event.datacontenttype) headers['content-type'] = event.datacontenttype;
    else if (body.length > 0) headers['content-type'] = 'application/json';
  }
  const traceparent = event.extensions.traceparent;
  if (traceparent) headers.traceparent = traceparent;
  return signed(sub.endpointUrl, headers, body, event.id, secrets, now);
}

/**
 * CloudEvents HTTP binding 3.1.3.2: header values are percent-encoded outside printable ASCII, and `%`, `"`
 * and space are encoded too.
 */
function encodeHeaderValue(v: string): string {
  if (/^[\x21-\x7e]*$/.test(v) && !/[%"]/.test(v)) return v;
  return v.replace(/[^\x21-\x7e]|[%"]/gu, (c) => {
    try {
      return encodeURIComponent(c);
    } catch {
      return '%EF%BF%BD'; // a lone surrogate cannot be UTF-8 encoded: send U+FFFD instead of throwing
    }
  });
}
