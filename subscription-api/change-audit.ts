/**
 * What a subscription or event-type change was, for the change audit (pure): the action and the names of the fields
 * that changed. `version`, `updatedAt`, `createdAt` and `id` are bookkeeping, not changes.
 *
 *   subscription created (no before)                    subscription.created     fields that have a value
 *   status ACTIVE → PAUSED / PAUSED → ACTIVE            subscription.paused / .resumed
 *   signing.current changed                             subscription.secret_rotated
 *   anything else                                       subscription.updated     (possibly no field: a PATCH that
 *                                                                                 repeated the stored values)
 *   deleted (no after)                                  subscription.deleted     no fields
 */
import {
  type ChangeAction,
  type ChangeActor,
  type ChangeAuditEntry,
  changedFieldNames,
  SYSTEM_ACTOR,
} from '../pipeline/shared/change-audit/change-audit';
import type { InboundSourceRecord } from '../pipeline/shared/inbound/inbound-source';
import type { EventTypeRecord, SubscriptionRecord } from './ports';

const BOOKKEEPING = ['id', 'version', 'createdAt', 'updatedAt'] as const;

export interface ChangeSummary {
  action: ChangeAction;
  changedFields: string[];
}

export function subscriptionChange(
  before: SubscriptionRecord | undefined,
  after: SubscriptionRecord | undefined,
): ChangeSummary {
  if (!after) return { action: 'subscription.deleted', changedFields: [] };
  const changedFields = changedFieldNames(before, after, { ignore: BOOKKEEPING, nested: ['match', 'auth', 'signing'] });
  if (!before) return { action: 'subscription.created', changedFields };
  if (before.status === 'ACTIVE' && after.status === 'PAUSED') return { action: 'subscription.paused', changedFields };
  if (before.status === 'PAUSED' && after.status === 'ACTIVE') return { action: 'subscription.resumed', changedFields };
  if (before.signing.current !== after.signing.current) return { action: 'subscription.secret_rotated', changedFields };
  return { action: 'subscription.updated', changedFields };
}

export function eventTypeChange(
  before: EventTypeRecord | undefined,
  after: EventTypeRecord | undefined,
): ChangeSummary {
  if (!after) return { action: 'event_type.deleted', changedFields: [] };
  const changedFields = changedFieldNames(before, after, { ignore: BOOKKEEPING });
  return { action: before ? 'event_type.updated' : 'event_type.created', changedFields };
}

/** The audit entry of a subscription change (before undefined = created, after undefined = deleted). */
export function subscriptionAuditEntry(
  before: SubscriptionRecord | undefined,
  after: SubscriptionRecord | undefined,
  actor: ChangeActor = SYSTEM_ACTOR,
): ChangeAuditEntry {
  const r = (after ?? before)!;
  return {
    tenantId: r.tenantId,
    actor,
    ...subscriptionChange(before, after),
    resourceType: 'subscription',
    resourceId: r.id,
    version: r.version,
  };
}

/** The audit entry of an event-type change: the catalogue is global (no tenant), event types have no version. */
export function eventTypeAuditEntry(
  before: EventTypeRecord | undefined,
  after: EventTypeRecord | undefined,
  actor: ChangeActor = SYSTEM_ACTOR,
): ChangeAuditEntry {
  return {
    tenantId: null,
    actor,
    ...eventTypeChange(before, after),
    resourceType: 'event_type',
    resourceId: (after ?? before)!.id,
    version: null,
  };
}

/**
 * The audit entry of an inbound-source change (before undefined = created, after undefined = deleted); a changed
 * current secret is a rotation. Field names only: `secrets.current`, never the sealed value.
 */
export function inboundSourceAuditEntry(
  before: InboundSourceRecord | undefined,
  after: InboundSourceRecord | undefined,
  actor: ChangeActor = SYSTEM_ACTOR,
): ChangeAuditEntry {
  const r = (after ?? before)!;
  const changedFields = after
    ? changedFieldNames(before, after, { ignore: BOOKKEEPING, nested: ['verification', 'secrets', 'mapping'] })
    : [];
  const action: ChangeAction = !after
    ? 'inbound_source.deleted'
    : !before
      ? 'inbound_source.created'
      : before.secrets?.current !== after.secrets?.current
        ? 'inbound_source.secret_rotated'
        : 'inbound_source.updated';
  return {
    tenantId: r.tenantId,
    actor,
    action,
    changedFields,
    resourceType: 'inbound_source',
    resourceId: r.id,
    version: r.version,
  };
}
