/**
 * Verifies an inbound webhook call against its source's scheme (pure). Signatures are computed over the RAW body
 * bytes and compared in constant time; a timestamped scheme is refused outside its tolerance before any HMAC is
 * computed. Every secret still live (the current one, the previous one during a rotation's overlap) is tried.
 *
 *   STANDARD_WEBHOOKS  webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC(key, "id.ts.body")> (space-
 *                      separated list); key = base64 after `whsec_`
 *   GITHUB             X-Hub-Signature-256: sha256=<hex HMAC(secret, body)>; no timestamp (dedupe on the delivery id)
 *   STRIPE             Stripe-Signature: t=<ts>,v1=<hex HMAC(secret, "ts.body")>[,v1=...]; key = the whole whsec_ text
 *   SLACK              X-Slack-Request-Timestamp + X-Slack-Signature: v0=<hex HMAC(secret, "v0:ts:body")>
 *   HMAC_SHA256        <header>: <prefix><hex|base64 HMAC(secret, body)>
 *   BASIC / BEARER     Authorization, compared as SHA-256 digests (constant time whatever the length)
 *   NONE               nothing to check here (the source has an IP allow-list)
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { secretBytes } from '../shared/delivery/sign';
import type { InboundVerification } from '../shared/inbound/inbound-source';

export const REFUSAL_REASONS = [
  'missing_signature',
  'malformed_signature',
  'timestamp_out_of_tolerance',
  'bad_signature',
  'bad_credentials',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type VerifyResult = { ok: true } | { ok: false; reason: RefusalReason; detail: string };

const OK: VerifyResult = Object.freeze({ ok: true });
const refuse = (reason: RefusalReason, detail: string): VerifyResult => ({ ok: false, reason, detail });

/** The first value of a header (node lower-cases names). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

const hmac = (key: Buffer | string, ...parts: (Buffer | string)[]): Buffer => {
  const mac = createHmac('sha256', key);
  for (const p of parts) mac.update(p);
  return mac.digest();
};

/** Constant time for equal lengths; a length mismatch is not secret (every HMAC-SHA256 is 32 bytes). */
function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

const HEX = /^[0-9a-f]+$/i;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decodeDigest(text: string, encoding: 'hex' | 'base64'): Buffer | undefined {
  if (encoding === 'hex') return HEX.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : undefined;
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

function checkTimestamp(raw: string | undefined, header: string, toleranceSeconds: number, nowMs: number) {
  if (raw === undefined) return refuse('missing_signature', `missing ${header}`);
  if (!/^\d{1,12}$/.test(raw)) return refuse('malformed_signature', `${header} is not a Unix timestamp in seconds`);
  const skew = Math.abs(nowMs / 1000 - Number(raw));
  if (skew > toleranceSeconds) {
    return refuse(
      'timestamp_out_of_tolerance',
      `${header} is ${Math.round(skew)} s from now (tolerance ${toleranceSeconds} s): a replay, or the sender's clock is off`,
    );
  }
  return undefined;
}

/** True when any of `candidates` (digests the caller sent) equals the HMAC under any of `keys`. */
function anyMatch(candidates: Buffer[], keys: Buffer[] | string[], ...parts: (Buffer | string)[]): boolean {
  let match = false;
  for (const key of keys) {
    const expected = hmac(key, ...parts);
    // No early exit: the time taken does not tell which candidate or key matched.
    for (const c of candidates) match = same(c, expected) || match;
  }
  return match;
}

export function verifyInbound(
  v: InboundVerification,
  secrets: readonly string[],
  headers: IncomingHttpHeaders,
  body: Buffer,
  nowMs: number,
): VerifyResult {
  switch (v.scheme) {
    case 'NONE':
      return OK;

    case 'STANDARD_WEBHOOKS': {
      const id = headerValue(headers, 'webhook-id');
      const ts = headerValue(headers, 'webhook-timestamp');
      const sig = headerValue(headers, 'webhook-signature');
      if (!id || !sig) return refuse('missing_signature', 'missing webhook-id or webhook-signature');
      const late = checkTimestamp(ts, 'webhook-timestamp', v.toleranceSeconds, nowMs);
      if (late) return late;
      const candidates = sig
        .split(' ')
        .filter((s) => s.startsWith('v1,'))
        .map((s) => decodeDigest(s.slice(3), 'base64'))
        .filter((b): b is Buffer => b !== undefined);
      if (candidates.length === 0) return refuse('malformed_signature', 'webhook-signature has no v1,<base64> entry');
      return anyMatch(candidates, secrets.map(secretBytes), `${id}.${ts}.`, body)
        ? OK
        : refuse('bad_signature', 'no webhook-signature entry matches the body under the source secret');
    }

    case 'GITHUB': {
      const sig = headerValue(headers, 'x-hub-signature-256');
      if (!sig) return refuse('missing_signature', 'missing X-Hub-Signature-256 (set a secret in the GitHub webhook)');
      const digest = sig.startsWith('sha256=') ? decodeDigest(sig.slice(7), 'hex') : undefined;
      if (!digest) return refuse('malformed_signature', 'X-Hub-Signature-256 is not sha256=<hex>');
      return anyMatch([digest], [...secrets], body)
        ? OK
        : refuse('bad_signature', 'X-Hub-Signature-256 does not match the body under the source secret');
    }

    case 'STRIPE': {
      const sig = headerValue(headers, 'stripe-signature');
      if (!sig) return refuse('missing_signature', 'missing Stripe-Signature');
      const pairs = sig.split(',').map((p) => {
        const i = p.indexOf('=');
        return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
      });
      const t = pairs.find(([k]) => k === 't')?.[1];
      const late = checkTimestamp(t, 'Stripe-Signature t=', v.toleranceSeconds, nowMs);
      if (late) return late;
      const candidates = pairs
        .filter(([k]) => k === 'v1')
        .map(([, s]) => decodeDigest(s, 'hex'))
        .filter((b): b is Buffer => b !== undefined);
      if (candidates.length === 0) return refuse('malformed_signature', 'Stripe-Signature has no v1=<hex> entry');
      return anyMatch(candidates, [...secrets], `${t}.`, body)
        ? OK
        : refuse('bad_signature', 'no Stripe-Signature v1 entry matches the body under the source secret');
    }

    case 'SLACK': {
      const sig = headerValue(headers, 'x-slack-signature');
      const ts = headerValue(headers, 'x-slack-request-timestamp');
      if (!sig) return refuse('missing_signature', 'missing X-Slack-Signature');
      const late = checkTimestamp(ts, 'X-Slack-Request-Timestamp', v.toleranceSeconds, nowMs);
      if (late) return late;
      const digest = sig.startsWith('v0=') ? decodeDigest(sig.slice(3), 'hex') : undefined;
      if (!digest) return refuse('malformed_signature', 'X-Slack-Signature is not v0=<hex>');
      return anyMatch([digest], [...secrets], `v0:${ts}:`, body)
        ? OK
        : refuse('bad_signature', 'X-Slack-Signature does not match the body under the signing secret');
    }

    case 'HMAC_SHA256': {
      const sig = headerValue(headers, v.header);
      if (!sig) return refuse('missing_signature', `missing ${v.header}`);
      const digest = sig.startsWith(v.prefix) ? decodeDigest(sig.slice(v.prefix.length), v.encoding) : undefined;
      if (!digest) {
        return refuse('malformed_signature', `${v.header} is not ${v.prefix}<${v.encoding} HMAC-SHA256>`);
      }
      return anyMatch([digest], [...secrets], body)
        ? OK
        : refuse('bad_signature', `${v.header} does not match the body under the source secret`);
    }

    case 'BASIC':
    case 'BEARER': {
      const auth = headerValue(headers, 'authorization');
      const scheme = v.scheme === 'BASIC' ? 'Basic ' : 'Bearer ';
      if (!auth?.toLowerCase().startsWith(scheme.toLowerCase())) {
        return refuse('missing_signature', `missing Authorization: ${scheme.trim()} credentials`);
      }
      const given = auth.slice(scheme.length).trim();
      const presented = sha(v.scheme === 'BASIC' ? Buffer.from(given, 'base64').toString('utf8') : given);
      let match = false;
      for (const s of secrets) {
        match = same(presented, sha(v.scheme === 'BASIC' ? `${v.username}:${s}` : s)) || match;
      }
      return match ? OK : refuse('bad_credentials', 'the Authorization credentials do not match the source');
    }
  }
}
