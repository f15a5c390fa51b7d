/**
 * The delivery gate: the one check before every attempt on every path that can reach the network — the outbox's
 * first attempt and its fast paths (circuit open, endpoint saturated), its in-process retries, the durable
 * schedule, single and bulk replay.
 *
 *   (subscriptionId, tenantId) ─▶ directory.get ─ unknown / deleted ──────────────▶ refuse  SUBSCRIPTION_GONE
 *                                      │ found
 *                                      ├─ record tenant ≠ subscription tenant ─────▶ refuse  TENANT_MISMATCH
 *                                      ├─ endpoint not allowed (no DNS needed) ────▶ refuse  ENDPOINT_BLOCKED
 *                                      ├─ PAUSED ──────────────────────────────────▶ hold    (delivered on resume)
 *                                      └─ ACTIVE ──────────────────────────────────▶ admit
 *
 * As in Hookdeck Outpost (`RetrieveDestination(ctx, tenantID, destID)` then one publishability check): the lookup
 * is tenant-scoped, so a forged or corrupt record naming another tenant's subscription never reaches that
 * tenant's endpoint, signed with its secret. A refused record is never sent; the caller records its reason.
 */
import { checkEndpointUrlStatic } from '../net/ssrf-policy';
import type { SubscriptionLookup } from '../subscriptions/directory';
import type { SubscriptionSnapshot } from '../subscriptions/snapshot';

export type GateCode = 'GATE.SUBSCRIPTION_GONE' | 'GATE.TENANT_MISMATCH' | 'GATE.ENDPOINT_BLOCKED';

export type Admission =
  | { type: 'admit'; sub: SubscriptionSnapshot }
  | { type: 'hold'; sub: SubscriptionSnapshot; reason: string }
  | { type: 'refuse'; code: GateCode; reason: string };

export interface GateDeps {
  directory: SubscriptionLookup;
  /** Why the endpoint may not be called (undefined = allowed). Checks that need no DNS; see ssrf-policy.ts. */
  endpointRejection?: (url: string) => string | undefined;
}

export function admit(deps: GateDeps, record: { subscriptionId: string; tenantId: string }): Admission {
  const sub = deps.directory.get(record.subscriptionId);
  if (!sub) return { type: 'refuse', code: 'GATE.SUBSCRIPTION_GONE', reason: 'subscription unknown or deleted' };
  if (sub.tenantId !== record.tenantId)
    return {
      type: 'refuse',
      code: 'GATE.TENANT_MISMATCH',
      reason: 'record tenant does not match the subscription tenant (forged or corrupt record)',
    };
  const blocked = deps.endpointRejection?.(sub.endpointUrl);
  if (blocked) return { type: 'refuse', code: 'GATE.ENDPOINT_BLOCKED', reason: `endpoint not allowed: ${blocked}` };
  if (sub.status !== 'ACTIVE')
    return { type: 'hold', sub, reason: `subscription ${sub.status.toLowerCase()}: held until it is resumed` };
  return { type: 'admit', sub };
}

/** A memoised `endpointRejection` over a URL check (endpoint URLs repeat; the check parses the URL). */
export function cachedEndpointRejection(
  check: (url: string) => string | undefined,
): (url: string) => string | undefined {
  const cache = new Map<string, string | undefined>();
  return (url) => {
    if (cache.has(url)) return cache.get(url);
    const r = check(url);
    if (cache.size > 10_000) cache.clear();
    cache.set(url, r);
    return r;
  };
}

/**
 * The gate's endpoint check for a service: the SSRF policy's checks that need no DNS (scheme, credentials, internal
 * literal addresses and host names), with the service's allowlist. https is enforced where URLs are written.
 */
export function gateEndpointCheck(allowHosts: readonly string[]): (url: string) => string | undefined {
  return cachedEndpointRejection((url) => {
    const r = checkEndpointUrlStatic(url, { allowHosts, requireHttps: false });
    return r.ok === false ? `${r.code}: ${r.reason}` : undefined;
  });
}
