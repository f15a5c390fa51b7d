/**
 * Builds the subscriber request for one CloudEvent (pure):
 * CloudEvents HTTP binding (binary by default, structured per subscription), Standard Webhooks headers,
 * traceparent, the subscription's static headers (which never override the hub's), and its auth headers.
 */
import { type HubCloudEvent, toStructuredJson } from '../cloudevents/envelope';
import type { SubscriptionSnapshot } from '../subscriptions/snapshot';
import { signatureHeader } from './sign';

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

export const USER_AGENT = 'IntegrationHub/0.1 (+https://github.com/integration-hub)';

/** The signing secrets valid at `now`: current, plus previous while its overlap window lasts. */
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

const RESERVED =
  /^(ce-|webhook-|content-type$|content-length$|host$|authorization$|traceparent$|user-agent$|transfer-encoding$|connection$)/i;

export function buildRequest(
  event: HubCloudEvent,
  sub: Pick<SubscriptionSnapshot, 'endpointUrl' | 'contentMode' | 'customHeaders'>,
  opts: { signingSecrets: string[]; authHeaders: Record<string, string>; now: Date },
): DeliveryRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(sub.customHeaders)) if (!RESERVED.test(k)) headers[k.toLowerCase()] = v;
  // Auth may use a custom header name (APIKEY); it still must not clobber the hub's own headers.
  for (const [k, v] of Object.entries(opts.authHeaders)) {
    if (k.toLowerCase() === 'authorization' || !RESERVED.test(k)) headers[k.toLowerCase()] = v;
  }
  let body: Buffer;
  if (sub.contentMode === 'STRUCTURED') {
    body = Buffer.from(toStructuredJson(event));
    headers['content-type'] = 'application/cloudevents+json; charset=utf-8';
  } else {
    body = event.data;
    headers['ce-specversion'] = event.specversion;
    headers['ce-id'] = event.id;
    headers['ce-source'] = event.source;
    headers['ce-type'] = event.type;
    if (event.time) headers['ce-time'] = event.time;
    if (event.subject) headers['ce-subject'] = event.subject;
    if (event.dataschema) headers['ce-dataschema'] = event.dataschema;
    for (const [k, v] of Object.entries(event.extensions)) {
      if (k !== 'traceparent') headers[`ce-${k}`] = encodeHeaderValue(v);
    }
    headers['content-type'] = event.datacontenttype ?? 'application/json';
  }
  const traceparent = event.extensions.traceparent;
  if (traceparent) headers.traceparent = traceparent;
  const timestamp = Math.floor(opts.now.getTime() / 1000);
  headers['webhook-id'] = event.id;
  headers['webhook-timestamp'] = String(timestamp);
  headers['webhook-signature'] = signatureHeader(opts.signingSecrets, event.id, timestamp, body);
  headers['user-agent'] = USER_AGENT;
  return { url: sub.endpointUrl, headers, body };
}

/** CloudEvents HTTP binding: header values are percent-encoded outside printable ASCII (and `%`, `"`). */
function encodeHeaderValue(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) && !/[%"]/.test(v) ? v : encodeURIComponent(v);
}
