/**
 * Inbound sources (issue 19): the registry of vendors that call the hub. Use cases behind the REST routes.
 *
 *   request (zod) ─▶ tenancy (principal) ─▶ scheme defaults (dedupe id, mapping) ─▶ seal the secret (aad = id)
 *     ─▶ repository: row + change audit in one transaction ─▶ view without secrets (+ the URL the vendor calls)
 *
 * Tenancy is the subscriptions' rule: another tenant's source answers 404 on every route; naming another tenant
 * explicitly (body or filter) answers 403. A secret is shown once: in the create and rotate-secret answers.
 * Rotation keeps the previous secret valid for the overlap window (vendors such as Stripe sign with both while a
 * secret is rolled), exactly as a subscription's signing secret rotation does. Refusals are domain errors
 * (errors.ts), answered by the routes (errors.http.ts).
 */
import { randomBytes } from 'node:crypto';
import { canAccessTenant, type Principal, tenantScope } from '../pipeline/shared/auth/api-key';
import { actorOf, type ChangeActor } from '../pipeline/shared/change-audit/change-audit';
import type { SecretBox } from '../pipeline/shared/crypto/secret-box';
import { uuidv7 } from '../pipeline/shared/ids';
import {
  DEFAULT_OPERATION_TYPE,
  DEFAULT_RESOURCE_TYPE,
  defaultDedupe,
  defaultEventType,
  defaultSourceService,
  type InboundSourceRecord,
  type InboundVerification,
  type SealedSecrets,
} from '../pipeline/shared/inbound/inbound-source';
import { InvalidArgumentError, InvalidRequestError, NotFoundError, PermissionDeniedError } from './errors';
import type {
  CreateInboundSourceInput,
  InboundSourceView,
  ListInboundSourcesQuery,
  PatchInboundSourceInput,
  VerificationInput,
} from './inbound-source-schemas';
import { decodeCursor, encodeCursor, generateSigningSecret } from './service';

/**
 * Port: inbound-source storage. Every write records its change-audit entry (`inboundSourceAuditEntry`, made by
 * `actor`) in the same transaction.
 */
export interface InboundSourceRepository {
  insert(record: InboundSourceRecord, actor?: ChangeActor): Promise<void>;
  get(id: string): Promise<InboundSourceRecord | undefined>;
  /** Locks the row, lets `mutate` compute the new state (same object = no change), bumps version. */
  update(
    id: string,
    mutate: (current: InboundSourceRecord) => InboundSourceRecord,
    actor?: ChangeActor,
  ): Promise<InboundSourceRecord | undefined>;
  delete(
    id: string,
    guard: (current: InboundSourceRecord) => void,
    actor?: ChangeActor,
  ): Promise<InboundSourceRecord | undefined>;
  /** One page ordered by id (UUIDv7, time-ordered), strictly after `afterId`. */
  list(filter: { tenantId?: string }, page: { limit: number; afterId?: string }): Promise<InboundSourceRecord[]>;
}

export interface InboundSourceServiceDeps {
  repository: InboundSourceRepository;
  box: SecretBox;
  /** How long the previous secret stays valid after a rotation (SECRET_ROTATION_OVERLAP_HOURS). */
  rotationOverlapMs: number;
  /** Public base URL of the event-processor's HTTP server (INBOUND_PUBLIC_BASE_URL). */
  publicBaseUrl: string;
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new secret in the form the scheme's vendors use: `whsec_…` for Standard Webhooks and Stripe, else 64 hex. */
export function generateInboundSecret(scheme: InboundVerification['scheme']): string {
  if (scheme === 'STANDARD_WEBHOOKS' || scheme === 'STRIPE') return generateSigningSecret();
  return randomBytes(32).toString('hex');
}

/** A Standard Webhooks secret is `whsec_` + base64 of the key bytes; anything else cannot verify a signature. */
function checkSecretForm(scheme: InboundVerification['scheme'], secret: string, path: string): void {
  if (scheme !== 'STANDARD_WEBHOOKS') return;
  const body = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || Buffer.from(body, 'base64').length < 16) {
    throw new InvalidArgumentError([
      { in: 'body', path, message: 'a Standard Webhooks secret: whsec_ + base64 of 16+ bytes' },
    ]);
  }
}

function settingsOf(v: VerificationInput | NonNullable<PatchInboundSourceInput['verification']>): InboundVerification {
  const { secret: _secret, ...settings } = v as VerificationInput & { secret?: string };
  return settings as InboundVerification;
}

export function toInboundSourceView(r: InboundSourceRecord, publicBaseUrl: string): InboundSourceView {
  const { scheme, ...settings } = r.verification as InboundVerification & Record<string, unknown>;
  return {
    id: r.id,
    tenantId: r.tenantId,
    name: r.name,
    url: `${publicBaseUrl.replace(/\/+$/, '')}/v1/inbound/${r.id}`,
    verification: { scheme, ...settings },
    secret: {
      set: r.secrets !== null,
      previousSecretExpiresAt: r.secrets?.previous ? (r.secrets.previousExpiresAt ?? null) : null,
    },
    allowedCidrs: [...r.allowedCidrs],
    dedupe: r.dedupe,
    mapping: { ...r.mapping },
    version: r.version,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type InboundSourceService = ReturnType<typeof createInboundSourceService>;

export function createInboundSourceService(deps: InboundSourceServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const { box, repository } = deps;

  function requireCidrsForNone(scheme: string, cidrs: readonly string[]): void {
    if (scheme === 'NONE' && cidrs.length === 0) {
      throw new InvalidArgumentError([
        { in: 'body', path: 'allowedCidrs', message: 'required (non-empty) when verification.scheme is NONE' },
      ]);
    }
  }

  function visible(principal: Principal, id: string) {
    return (current: InboundSourceRecord): void => {
      if (!canAccessTenant(principal, current.tenantId)) throw new NotFoundError('inbound source', id);
    };
  }

  /** Drops a previous secret whose overlap window has passed. */
  function prune(secrets: SealedSecrets | null, at: Date): SealedSecrets | null {
    if (secrets?.previousExpiresAt && Date.parse(secrets.previousExpiresAt) <= at.getTime()) {
      return { current: secrets.current };
    }
    return secrets;
  }

  async function mutate(
    principal: Principal,
    id: string,
    requestId: string | undefined,
    change: (current: InboundSourceRecord, at: Date) => InboundSourceRecord,
  ): Promise<InboundSourceRecord> {
    const guard = visible(principal, id);
    const updated = await repository.update(
      id,
      (current) => {
        guard(current);
        const at = now();
        const next = change(current, at);
        return next === current ? current : { ...next, secrets: prune(next.secrets, at) };
      },
      actorOf(principal, requestId),
    );
    if (!updated) throw new NotFoundError('inbound source', id);
    return updated;
  }

  return {
    view: (r: InboundSourceRecord) => toInboundSourceView(r, deps.publicBaseUrl),

    async create(principal: Principal, input: CreateInboundSourceInput, requestId?: string) {
      if (principal.role === 'OPERATOR' && !input.tenantId) {
        throw new InvalidArgumentError([{ in: 'body', path: 'tenantId', message: 'required for operator keys' }]);
      }
      const scope = tenantScope(principal, input.tenantId);
      if (!scope.ok) throw new PermissionDeniedError(scope.detail);
      const scheme = input.verification.scheme;
      requireCidrsForNone(scheme, input.allowedCidrs);
      const eventType = input.mapping.eventType ?? defaultEventType(scheme);
      if (!eventType) {
        throw new InvalidArgumentError([
          { in: 'body', path: 'mapping.eventType', message: `required for verification.scheme ${scheme}` },
        ]);
      }
      const given = 'secret' in input.verification ? input.verification.secret : undefined;
      if (given !== undefined) checkSecretForm(scheme, given, 'verification.secret');
      const secret = scheme === 'NONE' ? null : (given ?? generateInboundSecret(scheme));
      const id = uuidv7();
      const at = now();
      const record: InboundSourceRecord = {
        id,
        tenantId: scope.tenantId!,
        name: input.name,
        verification: settingsOf(input.verification),
        secrets: secret === null ? null : { current: box.seal(secret, id) },
        allowedCidrs: [...input.allowedCidrs],
        dedupe: input.dedupe === undefined ? defaultDedupe(scheme) : input.dedupe,
        mapping: {
          eventType,
          resourceType: input.mapping.resourceType ?? DEFAULT_RESOURCE_TYPE,
          operationType: input.mapping.operationType ?? DEFAULT_OPERATION_TYPE,
          sourceService: input.mapping.sourceService ?? defaultSourceService(scheme),
        },
        version: 1,
        createdAt: at,
        updatedAt: at,
      };
      await repository.insert(record, actorOf(principal, requestId));
      return { record, secret };
    },

    async get(principal: Principal, id: string): Promise<InboundSourceRecord> {
      const rec = await repository.get(id);
      if (!rec || !canAccessTenant(principal, rec.tenantId)) throw new NotFoundError('inbound source', id);
      return rec;
    },

    async list(principal: Principal, q: ListInboundSourcesQuery) {
      const scope = tenantScope(principal, q.tenantId);
      if (!scope.ok) throw new PermissionDeniedError(scope.detail);
      const afterId = q.cursor ? decodeCursor(q.cursor) : undefined;
      if (afterId !== undefined && !UUID.test(afterId)) {
        throw new InvalidArgumentError([
          { in: 'querystring', path: 'cursor', message: 'not a cursor returned by this API' },
        ]);
      }
      const rows = await repository.list({ tenantId: scope.tenantId }, { limit: q.limit + 1, afterId });
      const items = rows.slice(0, q.limit);
      const nextCursor = rows.length > q.limit ? encodeCursor(items[items.length - 1]!.id) : null;
      return { items, nextCursor };
    },

    async patch(principal: Principal, id: string, input: PatchInboundSourceInput, requestId?: string) {
      return mutate(principal, id, requestId, (current) => {
        if (input.verification && input.verification.scheme !== current.verification.scheme) {
          throw new InvalidRequestError(
            `verification.scheme cannot change (${current.verification.scheme}); create a new inbound source instead`,
            [{ in: 'body', path: 'verification.scheme', message: `must stay ${current.verification.scheme}` }],
          );
        }
        const next: InboundSourceRecord = {
          ...current,
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.verification ? { verification: settingsOf(input.verification) } : {}),
          ...(input.allowedCidrs ? { allowedCidrs: [...input.allowedCidrs] } : {}),
          ...(input.dedupe !== undefined ? { dedupe: input.dedupe } : {}),
          ...(input.mapping ? { mapping: { ...current.mapping, ...stripUndefined(input.mapping) } } : {}),
        };
        requireCidrsForNone(next.verification.scheme, next.allowedCidrs);
        return next;
      });
    },

    async rotateSecret(principal: Principal, id: string, given: string | undefined, requestId?: string) {
      let secret = '';
      let expiresAt = '';
      const record = await mutate(principal, id, requestId, (current, at) => {
        const scheme = current.verification.scheme;
        if (current.secrets === null) {
          throw new InvalidRequestError(`an inbound source with verification.scheme ${scheme} has no secret to rotate`);
        }
        if (given !== undefined) checkSecretForm(scheme, given, 'secret');
        secret = given ?? generateInboundSecret(scheme);
        expiresAt = new Date(at.getTime() + deps.rotationOverlapMs).toISOString();
        return {
          ...current,
          secrets: { current: box.seal(secret, id), previous: current.secrets.current, previousExpiresAt: expiresAt },
        };
      });
      return { record, secret, previousSecretExpiresAt: expiresAt };
    },

    async delete(principal: Principal, id: string, requestId?: string): Promise<void> {
      const deleted = await repository.delete(id, visible(principal, id), actorOf(principal, requestId));
      if (!deleted) throw new NotFoundError('inbound source', id);
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
