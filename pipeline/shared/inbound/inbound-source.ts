/**
 * Inbound webhook sources (issue 19): a vendor (GitHub, Stripe, Slack, a Standard Webhooks sender, ...) calls the hub
 * at `POST /v1/inbound/{id}` on the event-processor; the hub verifies the call, dedupes it and produces a CloudEvent
 * to the ingest topic. The subscription-api owns the registry (REST, Postgres); the event-processor reads it.
 *
 * Pure: the stored record, the per-scheme defaults and the small helpers both sides need (CIDRs, JSON pointers).
 * Secrets are sealed (SecretBox, aad = the source id) with the same `{ current, previous?, previousExpiresAt? }` shape
 * as a subscription's signing secrets, so a rotation keeps the previous secret valid for the overlap window.
 */
import { BlockList, isIP } from 'node:net';

export const INBOUND_SCHEMES = [
  'STANDARD_WEBHOOKS',
  'GITHUB',
  'STRIPE',
  'SLACK',
  'HMAC_SHA256',
  'BASIC',
  'BEARER',
  'NONE',
] as const;
export type InboundScheme = (typeof INBOUND_SCHEMES)[number];

/** The non-secret verification settings of a source, by scheme. */
export type InboundVerification =
  | { scheme: 'STANDARD_WEBHOOKS'; toleranceSeconds: number }
  | { scheme: 'GITHUB' }
  | { scheme: 'STRIPE'; toleranceSeconds: number }
  | { scheme: 'SLACK'; toleranceSeconds: number }
  | { scheme: 'HMAC_SHA256'; header: string; encoding: 'hex' | 'base64'; prefix: string }
  | { scheme: 'BASIC'; username: string }
  | { scheme: 'BEARER' }
  | { scheme: 'NONE' };

/** Sealed secrets: the current one and, during a rotation's overlap window, the previous one. */
export interface SealedSecrets {
  current: string;
  previous?: string;
  previousExpiresAt?: string;
}

/** Where a value comes from in the vendor's request: a header, a JSON pointer into the body, or a constant. */
export type ValueRef = { header: string } | { jsonPointer: string } | { value: string };

/** Where the vendor's delivery id is (the dedupe key); null = no dedupe. */
export type DedupeRef = { header: string } | { jsonPointer: string } | null;

export interface InboundMapping {
  eventType: ValueRef;
  resourceType: ValueRef;
  operationType: ValueRef;
  sourceService: ValueRef;
}

export interface InboundSourceRecord {
  id: string;
  tenantId: string;
  name: string;
  verification: InboundVerification;
  /** null for NONE (no secret). */
  secrets: SealedSecrets | null;
  /** CIDRs allowed to call; empty = any address. */
  allowedCidrs: string[];
  dedupe: DedupeRef;
  mapping: InboundMapping;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The vendor's delivery id by default: the header or body field each vendor documents as unique per event. */
export function defaultDedupe(scheme: InboundScheme): DedupeRef {
  switch (scheme) {
    case 'STANDARD_WEBHOOKS':
      return { header: 'webhook-id' };
    case 'GITHUB':
      return { header: 'X-GitHub-Delivery' };
    case 'STRIPE':
      return { jsonPointer: '/id' };
    case 'SLACK':
      return { jsonPointer: '/event_id' };
    default:
      return null;
  }
}

/** The event type by default; undefined = the scheme has no convention, the mapping must name it. */
export function defaultEventType(scheme: InboundScheme): ValueRef | undefined {
  switch (scheme) {
    case 'STANDARD_WEBHOOKS':
    case 'STRIPE':
      return { jsonPointer: '/type' };
    case 'GITHUB':
      return { header: 'X-GitHub-Event' };
    case 'SLACK':
      return { jsonPointer: '/event/type' };
    default:
      return undefined;
  }
}

export const DEFAULT_RESOURCE_TYPE: ValueRef = Object.freeze({ value: 'WEBHOOK' });
export const DEFAULT_OPERATION_TYPE: ValueRef = Object.freeze({ value: 'RECEIVED' });
export const defaultSourceService = (scheme: InboundScheme): ValueRef => ({
  value: scheme === 'STANDARD_WEBHOOKS' || scheme === 'HMAC_SHA256' ? 'webhook' : scheme.toLowerCase(),
});

/** Secrets still valid at `at`: the current one and the previous one inside its overlap window. */
export function liveSecrets(secrets: SealedSecrets, at: Date): string[] {
  const live = [secrets.current];
  if (secrets.previous && (!secrets.previousExpiresAt || Date.parse(secrets.previousExpiresAt) > at.getTime())) {
    live.push(secrets.previous);
  }
  return live;
}

// ── CIDRs ────────────────────────────────────────────────────────────────────────────────────────────────────────

/** Parses `addr/prefix` (or a bare address = a single host); undefined when it is not one. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = cidr.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A matcher for a list of (already validated) CIDRs; an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function cidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidr(c);
    if (p) list.addSubnet(p.address, p.prefix, p.family);
  }
  return (ip) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    const address = mapped ?? ip;
    const version = isIP(address);
    if (version === 0) return false;
    return list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
}

// ── JSON pointers (RFC 6901) ─────────────────────────────────────────────────────────────────────────────────────

export const JSON_POINTER = /^(\/([^~/]|~[01])*)+$/;

/** The value at `pointer` in `doc`, or undefined. */
export function resolveJsonPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let at: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
      at = at[Number(key)];
    } else if (typeof at === 'object' && at !== null && Object.hasOwn(at, key)) {
      at = (at as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return at;
}
