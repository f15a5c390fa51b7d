/**
 * The change audit (issue 14, item 3): one entry per management change, with who made it and the NAMES of the fields
 * it changed — never their values (auth credentials and signing secrets are fields too).
 *
 *   subscription-api service ─▶ repository adapter ─┬─ BEGIN; the change; INSERT "ChangeAudit"; COMMIT
 *   API-key routes / bootstrap ─▶ ApiKeyStore ───────┘     (change-audit.prisma.ts: recordChangeAudit)
 *   operator API  GET /v1/audit ─▶ ChangeAuditQuery (change-audit.prisma.ts)
 *
 * The entry is written in the change's own transaction, so a committed change always has its entry and a change that
 * failed or rolled back has none. Actions: `subscription.created|updated|paused|resumed|secret_rotated|deleted`,
 * `event_type.created|updated|deleted`, `api_key.created|revoked`, `inbound_source.created|updated|secret_rotated|deleted`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Principal } from '../auth/api-key';
import type { ApiKeyRecord } from '../auth/api-key-store';

export const CHANGE_ACTIONS = [
  'subscription.created',
  'subscription.updated',
  'subscription.paused',
  'subscription.resumed',
  'subscription.secret_rotated',
  'subscription.deleted',
  'event_type.created',
  'event_type.updated',
  'event_type.deleted',
  'api_key.created',
  'api_key.revoked',
  'inbound_source.created',
  'inbound_source.updated',
  'inbound_source.secret_rotated',
  'inbound_source.deleted',
] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

export const CHANGE_RESOURCE_TYPES = ['subscription', 'event_type', 'api_key', 'inbound_source'] as const;
export type ChangeResourceType = (typeof CHANGE_RESOURCE_TYPES)[number];

/** Who made a change: the API key (id and name) and the HTTP request id when there is one. */
export interface ChangeActor {
  keyId: string;
  name: string | null;
  requestId: string | null;
}

/** The actor of a request made with this principal's key. */
export function actorOf(principal: Principal, requestId?: string): ChangeActor {
  return { keyId: principal.keyId, name: principal.name ?? null, requestId: requestId ?? null };
}

/** The operator key ensured at start from OPERATOR_API_KEY (no request, no key yet). */
export const BOOTSTRAP_ACTOR: ChangeActor = Object.freeze({ keyId: 'bootstrap', name: 'bootstrap', requestId: null });
/** A change made by code that named no actor (tools, tests): still audited, as `system`. */
export const SYSTEM_ACTOR: ChangeActor = Object.freeze({ keyId: 'system', name: null, requestId: null });

export interface ChangeAuditEntry {
  /** null for global resources: event types, operator keys. */
  tenantId: string | null;
  actor: ChangeActor;
  action: ChangeAction;
  resourceType: ChangeResourceType;
  resourceId: string;
  /** The resource's version after the change (before it, for a delete); null for unversioned resources. */
  version: number | null;
  /** Names of the fields that changed (nested ones dotted: `auth.secret`, `match.eventType`), sorted. */
  changedFields: string[];
}

/** An entry as stored. */
export interface ChangeAuditRow extends ChangeAuditEntry {
  /** BIGSERIAL as a decimal string: insertion order, newest = largest. */
  id: string;
  at: Date;
}

const absent = (v: unknown) => v === undefined || v === null;

/**
 * Names of the fields whose values differ between `before` and `after` (undefined = the record does not exist, so
 * every field that has a value counts). `null` and a missing field are the same (no value). Fields in `nested` are
 * compared one level down and reported as `field.sub`; fields in `ignore` never count. Values are compared, never
 * returned.
 */
export function changedFieldNames(
  before: object | undefined,
  after: object | undefined,
  opts: { ignore?: readonly string[]; nested?: readonly string[] } = {},
): string[] {
  const out = new Set<string>();
  const diff = (a: Record<string, unknown>, b: Record<string, unknown>, prefix: string, depth: number) => {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (depth === 0 && opts.ignore?.includes(key)) continue;
      const x = a[key];
      const y = b[key];
      if (absent(x) && absent(y)) continue;
      const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
      if (depth === 0 && opts.nested?.includes(key) && (isObj(x) || isObj(y))) {
        diff(
          isObj(x) ? (x as Record<string, unknown>) : {},
          isObj(y) ? (y as Record<string, unknown>) : {},
          `${key}.`,
          1,
        );
      } else if (absent(x) || absent(y) || !isDeepStrictEqual(x, y)) {
        out.add(prefix + key);
      }
    }
  };
  diff((before ?? {}) as Record<string, unknown>, (after ?? {}) as Record<string, unknown>, '', 0);
  return [...out].sort();
}

/** The entry of an API key created or revoked (tenant keys belong to their tenant; operator keys are global). */
export function apiKeyAuditEntry(
  action: 'api_key.created' | 'api_key.revoked',
  key: Pick<ApiKeyRecord, 'id' | 'tenantId'>,
  actor: ChangeActor = SYSTEM_ACTOR,
): ChangeAuditEntry {
  return {
    tenantId: key.tenantId,
    actor,
    action,
    resourceType: 'api_key',
    resourceId: key.id,
    version: null,
    changedFields:
      action === 'api_key.created' ? ['name', 'role', ...(key.tenantId !== null ? ['tenantId'] : [])] : ['revokedAt'],
  };
}

// ── reading ─────────────────────────────────────────────────────────────────────────────────────────────────────

export interface ChangeAuditFilter {
  /** undefined = every tenant and the global entries (operators only). */
  tenantId?: string;
  resourceType?: ChangeResourceType;
  resourceId?: string;
  action?: ChangeAction;
  /** On "at": from inclusive, to exclusive. */
  from?: Date;
  to?: Date;
}

/** Port: the change audit, newest first, with opaque keyset cursors. */
export interface ChangeAuditQuery {
  list(
    filter: ChangeAuditFilter,
    limit: number,
    cursor?: string,
  ): Promise<{ items: ChangeAuditRow[]; nextCursor: string | null }>;
}

/** A list cursor: the last entry's id (entries are listed by id, descending). */
export function encodeAuditCursor(id: string): string {
  return Buffer.from(JSON.stringify({ before: id }), 'utf8').toString('base64url');
}

/** The id of a cursor this API handed out, or undefined. */
export function decodeAuditCursor(cursor: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { before?: unknown };
    return typeof parsed.before === 'string' && /^[1-9][0-9]{0,18}$/.test(parsed.before) ? parsed.before : undefined;
  } catch {
    return undefined;
  }
}
