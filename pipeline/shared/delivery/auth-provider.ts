/**
 * Subscriber authentication headers, by the subscription's auth type. Secrets are opened (SecretBox) only here,
 * at the moment of use, and never logged.
 *
 * OAUTH2 client credentials: the token is fetched from `tokenUrl`, cached until 30 s before it expires, fetched
 * by one request at a time per subscription (concurrent deliveries share it), and dropped on a 401 from the
 * subscriber so the next attempt fetches a fresh one. A failing token endpoint is a retriable delivery failure.
 */
import { type Failure, retriable } from '../errors';
import type { SubscriptionSnapshot } from '../subscriptions/snapshot';
import type { HttpRequest, SendResult } from './send';

export type OpenSecret = (sealed: string, subscriptionId: string) => string;

export interface AuthProvider {
  headersFor(
    sub: SubscriptionSnapshot,
  ): Promise<{ ok: true; headers: Record<string, string> } | { ok: false; failure: Failure }>;
  /** Forget a cached token (after a 401, or when the subscription changed). */
  invalidate(subscriptionId: string): void;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export function createAuthProvider(deps: {
  open: OpenSecret;
  send: (req: HttpRequest) => Promise<SendResult>;
  now?: () => number;
}): AuthProvider {
  const now = deps.now ?? Date.now;
  const tokens = new Map<string, CachedToken>();
  const inflight = new Map<string, Promise<CachedToken>>();

  async function fetchToken(sub: SubscriptionSnapshot & { auth: { type: 'OAUTH2' } }): Promise<CachedToken> {
    const { clientId, tokenUrl, scope } = sub.auth;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    const basic = Buffer.from(
      `${encodeURIComponent(clientId)}:${encodeURIComponent(deps.open(sub.auth.secret, sub.id))}`,
    ).toString('base64');
    let res: SendResult;
    try {
      res = await deps.send({
        url: tokenUrl,
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${basic}`,
        },
        body: form.toString(),
      });
    } catch (err) {
      throw retriable('DELIVERY.AUTH_TOKEN_UNREACHABLE', `token endpoint unreachable: ${(err as Error).message}`);
    }
    if (res.status < 200 || res.status >= 300)
      throw retriable('DELIVERY.AUTH_TOKEN_REJECTED', `token endpoint answered ${res.status}`, { status: res.status });
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(res.snippet);
    } catch {
      throw retriable('DELIVERY.AUTH_TOKEN_INVALID', 'token endpoint answered something that is not JSON');
    }
    if (typeof body.access_token !== 'string' || body.access_token.length === 0)
      throw retriable('DELIVERY.AUTH_TOKEN_INVALID', 'token endpoint answer has no access_token');
    const ttlS = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
    return { token: body.access_token, expiresAt: now() + Math.max(1, ttlS - 30) * 1000 };
  }

  async function oauthToken(sub: SubscriptionSnapshot & { auth: { type: 'OAUTH2' } }): Promise<string> {
    const cached = tokens.get(sub.id);
    if (cached && cached.expiresAt > now()) return cached.token;
    let pending = inflight.get(sub.id);
    if (!pending) {
      pending = fetchToken(sub).finally(() => inflight.delete(sub.id));
      inflight.set(sub.id, pending);
    }
    const fresh = await pending;
    tokens.set(sub.id, fresh);
    return fresh.token;
  }

  return {
    async headersFor(sub) {
      const a = sub.auth;
      try {
        switch (a.type) {
          case 'NONE':
            return { ok: true, headers: {} };
          case 'BASIC':
            return {
              ok: true,
              headers: {
                authorization: `Basic ${Buffer.from(`${a.username}:${deps.open(a.secret, sub.id)}`).toString('base64')}`,
              },
            };
          case 'JWT':
            return { ok: true, headers: { authorization: `Bearer ${deps.open(a.secret, sub.id)}` } };
          case 'APIKEY':
            return { ok: true, headers: { [a.headerName.toLowerCase()]: deps.open(a.secret, sub.id) } };
          case 'OAUTH2':
            return { ok: true, headers: { authorization: `Bearer ${await oauthToken(sub as never)}` } };
        }
      } catch (err) {
        if ((err as Failure).kind) return { ok: false, failure: err as Failure };
        // A secret that cannot be opened (wrong hub key, tampered) will not heal by retrying.
        return {
          ok: false,
          failure: { kind: 'permanent', code: 'DELIVERY.AUTH_SECRET', message: (err as Error).message },
        };
      }
    },
    invalidate(id) {
      tokens.delete(id);
    },
  };
}
