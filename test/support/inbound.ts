/**
 * Vendor-side helpers for inbound-webhook tests: requests signed the way each vendor signs them (independently of
 * the hub's verifier: the standardwebhooks package, and HMACs computed per GitHub's, Stripe's and Slack's docs), and
 * a reader that consumes a topic until a sentinel record arrived (to prove what was NOT produced without sleeping).
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { type ConsumedRecord, consumeAll } from './kafka';

export interface VendorRequest {
  headers: Record<string, string>;
  body: string;
}

export type VendorScheme = 'STANDARD_WEBHOOKS' | 'GITHUB' | 'STRIPE' | 'SLACK' | 'HMAC_SHA256' | 'BASIC' | 'BEARER';

const hmacHex = (key: string, data: string) => createHmac('sha256', key).update(data).digest('hex');

/**
 * A request as the vendor of `scheme` sends it: its own body shape (with `deliveryId` where the vendor puts it) and
 * its signature headers. `at` = the signing time (default now); HMAC_SHA256 uses X-Signature, `sha256=` + hex.
 */
export function vendorRequest(
  scheme: VendorScheme,
  secret: string,
  o: { deliveryId: string; at?: Date; username?: string; body?: string },
): VendorRequest {
  const at = o.at ?? new Date();
  const ts = String(Math.floor(at.getTime() / 1000));
  const json = { 'content-type': 'application/json' };
  switch (scheme) {
    case 'STANDARD_WEBHOOKS': {
      const body = o.body ?? JSON.stringify({ type: 'invoice.paid', data: { id: o.deliveryId } });
      const signature = new Webhook(secret).sign(o.deliveryId, at, body);
      return {
        body,
        headers: { ...json, 'webhook-id': o.deliveryId, 'webhook-timestamp': ts, 'webhook-signature': signature },
      };
    }
    case 'GITHUB': {
      const body = o.body ?? JSON.stringify({ action: 'opened', issue: { number: 1 } });
      return {
        body,
        headers: {
          ...json,
          'x-github-event': 'issues',
          'x-github-delivery': o.deliveryId,
          'x-hub-signature-256': `sha256=${hmacHex(secret, body)}`,
        },
      };
    }
    case 'STRIPE': {
      const body = o.body ?? JSON.stringify({ id: o.deliveryId, object: 'event', type: 'invoice.paid' });
      return { body, headers: { ...json, 'stripe-signature': `t=${ts},v1=${hmacHex(secret, `${ts}.${body}`)}` } };
    }
    case 'SLACK': {
      const body =
        o.body ?? JSON.stringify({ type: 'event_callback', event_id: o.deliveryId, event: { type: 'app_mention' } });
      return {
        body,
        headers: {
          ...json,
          'x-slack-request-timestamp': ts,
          'x-slack-signature': `v0=${hmacHex(secret, `v0:${ts}:${body}`)}`,
        },
      };
    }
    case 'HMAC_SHA256': {
      const body = o.body ?? JSON.stringify({ event: 'contact.updated', deliveryId: o.deliveryId });
      return { body, headers: { ...json, 'x-signature': `sha256=${hmacHex(secret, body)}` } };
    }
    case 'BASIC': {
      const body = o.body ?? JSON.stringify({ event: 'contact.updated', deliveryId: o.deliveryId });
      const credentials = Buffer.from(`${o.username ?? 'vendor'}:${secret}`).toString('base64');
      return { body, headers: { ...json, authorization: `Basic ${credentials}` } };
    }
    case 'BEARER': {
      const body = o.body ?? JSON.stringify({ event: 'contact.updated', deliveryId: o.deliveryId });
      return { body, headers: { ...json, authorization: `Bearer ${secret}` } };
    }
  }
}

/**
 * Reads `topic` from the beginning until a record satisfies `until`; returns every record read by then. A refused
 * request is answered only after the hub decided not to produce, so anything it had produced would be on the topic
 * before a sentinel sent afterwards (same key = same partition).
 */
export function consumeUntil(
  topic: string,
  until: (r: ConsumedRecord) => boolean,
  timeoutMs = 30_000,
): Promise<ConsumedRecord[]> {
  return consumeAll(topic, { count: 0, until, timeoutMs });
}
