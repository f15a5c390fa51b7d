/**
 * The subscription-api's domain records and the ports its use cases need (adapters: `*.prisma.ts`, fakes:
 * `*.memory.ts`).
 */

import type { ChangeActor } from '../pipeline/shared/change-audit/change-audit';
import type {
  AuthSnapshot,
  ContentMode,
  MatchKey,
  SubscriptionSnapshot,
  SubscriptionStatus,
} from '../pipeline/shared/subscriptions/snapshot';
import type { Domain } from '../pipeline/shared/topics';

/** A subscription as stored: secrets sealed (SecretBox, aad = id), exactly what the changelog carries. */
export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  description: string | null;
  version: number;
  status: SubscriptionStatus;
  match: MatchKey;
  endpointUrl: string;
  contentMode: ContentMode;
  auth: AuthSnapshot;
  signing: SubscriptionSnapshot['signing'];
  customHeaders: Record<string, string>;
  maxAttempts: number | null;
  /** Milliseconds between scheduled retries (retry-schedule.ts); null = the hub's DELIVERY_RETRY_SCHEDULE. */
  retrySchedule: number[] | null;
  ordered: boolean;
  /** Batched delivery (batch.ts in the outbox-processor); null = one event per request. */
  batch: { maxEvents: number; maxWaitMs: number } | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toSnapshot(r: SubscriptionRecord): SubscriptionSnapshot {
  return {
    id: r.id,
    tenantId: r.tenantId,
    version: r.version,
    status: r.status,
    match: { ...r.match },
    endpointUrl: r.endpointUrl,
    contentMode: r.contentMode,
    auth: { ...r.auth },
    signing: { ...r.signing },
    customHeaders: { ...r.customHeaders },
    ...(r.maxAttempts !== null ? { maxAttempts: r.maxAttempts } : {}),
    ...(r.retrySchedule !== null ? { retrySchedule: [...r.retrySchedule] } : {}),
    ordered: r.ordered,
    ...(r.batch !== null ? { batch: { ...r.batch } } : {}),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export interface SubscriptionFilter {
  tenantId?: string;
  status?: SubscriptionStatus;
  sourceService?: string;
  eventType?: string;
  resourceType?: string;
  operationType?: string;
}

/**
 * Port: subscription storage. Every write also records the resulting snapshot (or a tombstone) in the
 * transactional outbox, and its change-audit entry (`subscriptionAuditEntry`, made by `actor`; `SYSTEM_ACTOR`
 * when none is given), in the SAME transaction, so neither the changelog nor the audit diverges from the table.
 */
export interface SubscriptionRepository {
  /** Inserts a new subscription (version 1) and its change record. */
  insert(record: SubscriptionRecord, actor?: ChangeActor): Promise<void>;
  get(id: string): Promise<SubscriptionRecord | undefined>;
  /**
   * Reads the row under a lock, lets `mutate` compute the new state (it may throw to abort; returning the same
   * object means "no change"), bumps `version`, sets `updatedAt`, writes row + change record. Undefined = no row.
   */
  update(
    id: string,
    mutate: (current: SubscriptionRecord) => SubscriptionRecord | Promise<SubscriptionRecord>,
    actor?: ChangeActor,
  ): Promise<SubscriptionRecord | undefined>;
  /** Deletes the row when `guard` allows it, writing a tombstone change record. Undefined = no row (or guarded). */
  delete(
    id: string,
    guard: (current: SubscriptionRecord) => void,
    actor?: ChangeActor,
  ): Promise<SubscriptionRecord | undefined>;
  /** One page ordered by id (ids are time-ordered UUIDv7), strictly after `afterId`. */
  list(filter: SubscriptionFilter, page: { limit: number; afterId?: string }): Promise<SubscriptionRecord[]>;
}

/**
 * What the delivery side knows about a subscription (written by the dlt-processor; read-only here): its deliveries
 * held while it is paused, and whether its endpoint failed whole retry schedules.
 */
export interface DeliveryStatus {
  held: { count: number /** createdAt of the oldest HELD row */; oldestAt: Date | null };
  health: { failing: boolean; exhaustedDeliveries: number; lastExhaustedAt: Date | null };
}

export const NO_DELIVERY_STATUS: DeliveryStatus = Object.freeze({
  held: Object.freeze({ count: 0, oldestAt: null }),
  health: Object.freeze({ failing: false, exhaustedDeliveries: 0, lastExhaustedAt: null }),
});

/** Port: delivery status per subscription, for the subscription view. */
export interface DeliveryStatusReader {
  /** One read for all the given subscriptions (a list page); a subscription with nothing recorded is left out. */
  read(subscriptions: readonly { id: string; tenantId: string }[]): Promise<Map<string, DeliveryStatus>>;
}

export interface EventTypeRecord {
  id: string;
  name: string;
  description: string | null;
  domain: Domain;
  schemaRef: string | null;
  deprecated: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export class DuplicateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DuplicateError';
  }
}

/**
 * Port: event type catalogue. Every write records its change-audit entry (`eventTypeAuditEntry`, made by `actor`)
 * in the same transaction.
 */
export interface EventTypeRepository {
  /** Throws DuplicateError when the name exists. */
  create(record: EventTypeRecord, actor?: ChangeActor): Promise<EventTypeRecord>;
  get(idOrName: string): Promise<EventTypeRecord | undefined>;
  list(filter: { domain?: Domain; deprecated?: boolean }): Promise<EventTypeRecord[]>;
  update(
    id: string,
    patch: Partial<Omit<EventTypeRecord, 'id' | 'name' | 'createdAt'>>,
    actor?: ChangeActor,
  ): Promise<EventTypeRecord | undefined>;
  delete(id: string, actor?: ChangeActor): Promise<boolean>;
}
