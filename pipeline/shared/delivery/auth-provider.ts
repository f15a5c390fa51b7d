/**
 * Subscriber authentication headers, by the subscription's auth type. Secrets are opened (SecretBox, aad =
 * subscription id) only here, at the moment of use, and are never logged or put into a failure message.
 *
 * | type    | header                                              |
 * |---------|-----------------------------------------------------|
 * | NONE    | -                                                   |
 * | BASIC   | authorization: Basic base64(username:password)      |
 * | JWT     | authorization: Bearer <pre-shared token>            |
 * | APIKEY  | <headerName>: <key>                                 |
 * | OAUTH2  | authorization: Bearer <token from tokenUrl>         |
 *
 * OAUTH2 client credentials (RFC 6749 4.4): a form-encoded `grant_type=client_credentials` POST to `tokenUrl`,
 * the client authenticated with HTTP Basic (default) or in the form body (`clientAuth: 'body'`). The token is
 * cached until shortly before it expires; one fetch at a time per subscription, shared by every concurrent
 * delivery (single-flight); a 401 from the subscriber invalidates it (deliverOnce then retries once with a new
 * one). Token-endpoint failures and garbage answers are retriable delivery failures `DELIVERY.AUTH_TOKEN_*`.
 */
import { type Failure, permanent, retriable } from '../errors';
import type { AuthSnapshot, SubscriptionSnapshot } from '../subscriptions/snapshot';
import { classifyError } from './classify-response';
import type { HttpRequest, SendResult } from './send';

/** Unseals a secret of a subscription (SecretBox.open with aad = subscription id). Throws if it cannot. */
export type OpenSecret = (sealed: string, subscriptionId: string) => string;

export type AuthHeaders = { ok: true; headers: Record<string, string> } | { ok: false; failure: Failure };

/** Port: the auth headers of a delivery. */
export interface AuthProvider {
  headersFor(sub: SubscriptionSnapshot): Promise<AuthHeaders>;
  /**
   * Forget a cached OAuth2 token: after the subscriber answered 401 to `rejectedToken` (only that token is
   * dropped, so concurrent 401s do not refetch a token that was just renewed), or, without a token, whenever
   * the subscription changed.
   */
  invalidate(subscriptionId: string, rejectedToken?: string): void;
}

interface CachedToken {
  token: string;
  /** When to stop using it: shortly before the expiry the token endpoint announced. */
  refreshAt: number;
}

type OAuth2 = Extract<AuthSnapshot, { type: 'OAUTH2' }>;

/** Token lifetime when the endpoint does not say (`expires_in` missing). */
const DEFAULT_TTL_S = 300;
/** Stop using a token this long before it expires (or at 90% of a short lifetime). */
const EXPIRY_MARGIN_MS = 30_000;
const MAX_TOKEN_LENGTH = 16 * 1024;

class TokenError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export function createAuthProvider(deps: {
  open: OpenSecret;
  /** The sender used for the token endpoint (same SSRF guard, timeouts and capped read as deliveries). */
  send: (req: HttpRequest) => Promise<SendResult>;
  now?: () => number;
}): AuthProvider {
  const now = deps.now ?? Date.now;
  const tokens = new Map<string, CachedToken>();
  const inflight = new Map<string, Promise<CachedToken>>();
  /** Bumped on invalidate(id) so a fetch that started before a subscription change is not cached. */
  const generation = new Map<string, number>();

  async function fetchToken(sub: SubscriptionSnapshot, auth: OAuth2): Promise<CachedToken> {
    const clientSecret = deps.open(auth.secret, sub.id);
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (auth.clientAuth === 'body') {
      form.set('client_id', auth.clientId);
      form.set('client_secret', clientSecret);
    } else {
      // RFC 6749 2.3.1: client id and secret are form-urlencoded before the Basic encoding.
      const basic = `${formEncode(auth.clientId)}:${formEncode(clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    }
    let res: SendResult;
    try {
      res = await deps.send({ url: auth.tokenUrl, method: 'POST', headers, body: form.toString() });
    } catch (err) {
      const f = classifyError(err);
      if (f.code === 'DELIVERY.SSRF_BLOCKED')
        throw new TokenError(permanent('DELIVERY.AUTH_TOKEN_SSRF_BLOCKED', `token endpoint refused: ${f.message}`));
      throw new TokenError(
        retriable('DELIVERY.AUTH_TOKEN_UNREACHABLE', `token endpoint unreachable (${f.code}): ${f.message}`),
      );
    }
    if (res.status < 200 || res.status >= 300)
      throw new TokenError(
        retriable('DELIVERY.AUTH_TOKEN_REJECTED', `token endpoint answered ${res.status}`, { status: res.status }),
      );
    let body: { access_token?: unknown; expires_in?: unknown; token_type?: unknown };
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new TokenError(retriable('DELIVERY.AUTH_TOKEN_INVALID', 'token endpoint answer is not JSON'));
    }
    const token = body?.access_token;
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH || /[\r\n]/.test(token))
      throw new TokenError(
        retriable('DELIVERY.AUTH_TOKEN_INVALID', 'token endpoint answer has no usable access_token'),
      );
    if (typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'bearer')
      throw new TokenError(
        retriable('DELIVERY.AUTH_TOKEN_INVALID', `token endpoint issued a "${body.token_type}" token, not bearer`),
      );
    const expiresIn = Number(body.expires_in);
    const ttlMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TTL_S) * 1000;
    return { token, refreshAt: now() + Math.max(0, Math.min(ttlMs - EXPIRY_MARGIN_MS, ttlMs * 0.9)) };
  }

  async function oauthToken(sub: SubscriptionSnapshot, auth: OAuth2): Promise<string> {
    const cached = tokens.get(sub.id);
    if (cached && cached.refreshAt > now()) return cached.token;
    let pending = inflight.get(sub.id);
    if (!pending) {
      const gen = generation.get(sub.id) ?? 0;
      pending = fetchToken(sub, auth)
        .then((t) => {
          if ((generation.get(sub.id) ?? 0) === gen) tokens.set(sub.id, t);
          return t;
        })
        .finally(() => inflight.delete(sub.id));
      inflight.set(sub.id, pending);
    }
    return (await pending).token;
  }

  return {
    async headersFor(sub) {
      const a = sub.auth;
      try {
        switch (a.type) {
          case 'NONE':
            return { ok: true, headers: {} };
          case 'BASIC': {
            const credentials = Buffer.from(`${a.username}:${deps.open(a.secret, sub.id)}`).toString('base64');
            return { ok: true, headers: { authorization: `Basic ${credentials}` } };
          }
          case 'JWT':
            return { ok: true, headers: { authorization: `Bearer ${deps.open(a.secret, sub.id)}` } };
          case 'APIKEY':
            return { ok: true, headers: { [a.headerName.toLowerCase()]: deps.open(a.secret, sub.id) } };
          case 'OAUTH2':
            return { ok: true, headers: { authorization: `Bearer ${await oauthToken(sub, a)}` } };
          default:
            return {
              ok: false,
              failure: permanent('DELIVERY.AUTH_UNSUPPORTED', `unsupported auth type ${(a as { type: string }).type}`),
            };
        }
      } catch (err) {
        if (err instanceof TokenError) return { ok: false, failure: err.failure };
        // A secret that cannot be opened (other hub key, tampered box) will not heal by retrying. The message of
        // SecretBox errors names no secret; keep only the class of problem.
        return {
          ok: false,
          failure: permanent('DELIVERY.AUTH_SECRET', `credentials of subscription ${sub.id} cannot be opened`),
        };
      }
    },
    invalidate(id, rejectedToken) {
      if (rejectedToken !== undefined) {
        if (tokens.get(id)?.token === rejectedToken) tokens.delete(id);
        return;
      }
      tokens.delete(id);
      generation.set(id, (generation.get(id) ?? 0) + 1);
    },
  };
}

/** application/x-www-form-urlencoded encoding of one value (space as +), as RFC 6749 2.3.1 asks. */
function formEncode(v: string): string {
  return new URLSearchParams({ v }).toString().slice(2);
}
