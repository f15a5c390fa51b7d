/**
 * In-memory repositories for unit tests of routes and use cases. The changelog is an array of
 * `{ id, subscriptionId, snapshot | null }` in write order, like the SubscriptionChange table; `audits` holds the
 * change-audit entries in write order, like the ChangeAudit table.
 */
import type { ChangeAuditEntry } from '../pipeline/shared/change-audit/change-audit';
import type { SubscriptionSnapshot } from '../pipeline/shared/subscriptions/snapshot';
import { eventTypeAuditEntry, subscriptionAuditEntry } from './change-audit';
import {
  type DeliveryStatus,
  type DeliveryStatusReader,
  DuplicateError,
  type EventTypeRecord,
  type EventTypeRepository,
  type SubscriptionRecord,
  type SubscriptionRepository,
  toSnapshot,
} from './ports';

export interface MemoryChange {
  seq: number;
  subscriptionId: string;
  snapshot: SubscriptionSnapshot | null;
}

const clone = <T>(v: T): T => structuredClone(v);

export function memorySubscriptionRepository(): SubscriptionRepository & {
  changes: MemoryChange[];
  audits: ChangeAuditEntry[];
} {
  const rows = new Map<string, SubscriptionRecord>();
  const changes: MemoryChange[] = [];
  const audits: ChangeAuditEntry[] = [];
  const record = (id: string, snapshot: SubscriptionSnapshot | null) =>
    changes.push({ seq: changes.length + 1, subscriptionId: id, snapshot });
  return {
    changes,
    audits,
    async insert(r, actor) {
      if (rows.has(r.id)) throw new DuplicateError(`subscription ${r.id} exists`);
      rows.set(r.id, clone(r));
      record(r.id, toSnapshot(r));
      audits.push(subscriptionAuditEntry(undefined, r, actor));
    },
    async get(id) {
      const r = rows.get(id);
      return r ? clone(r) : undefined;
    },
    async update(id, mutate, actor) {
      const current = rows.get(id);
      if (!current) return undefined;
      const copy = clone(current);
      const next = await mutate(copy);
      if (next === copy) return clone(current);
      const saved = { ...clone(next), id, version: current.version + 1, updatedAt: new Date() };
      rows.set(id, saved);
      record(id, toSnapshot(saved));
      audits.push(subscriptionAuditEntry(current, saved, actor));
      return clone(saved);
    },
    async delete(id, guard, actor) {
      const current = rows.get(id);
      if (!current) return undefined;
      guard(clone(current));
      rows.delete(id);
      record(id, null);
      audits.push(subscriptionAuditEntry(current, undefined, actor));
      return clone(current);
    },
    async list(f, page) {
      return [...rows.values()]
        .filter(
          (r) =>
            (f.tenantId === undefined || r.tenantId === f.tenantId) &&
            (f.status === undefined || r.status === f.status) &&
            (f.sourceService === undefined || r.match.sourceService === f.sourceService) &&
            (f.eventType === undefined || r.match.eventType === f.eventType) &&
            (f.resourceType === undefined || r.match.resourceType === f.resourceType) &&
            (f.operationType === undefined || r.match.operationType === f.operationType) &&
            (page.afterId === undefined || r.id > page.afterId),
        )
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .slice(0, page.limit)
        .map(clone);
    },
  };
}

export function memoryEventTypeRepository(): EventTypeRepository & { audits: ChangeAuditEntry[] } {
  const rows = new Map<string, EventTypeRecord>();
  const audits: ChangeAuditEntry[] = [];
  const find = (idOrName: string) => rows.get(idOrName) ?? [...rows.values()].find((r) => r.name === idOrName);
  return {
    audits,
    async create(r, actor) {
      if ([...rows.values()].some((x) => x.name === r.name)) throw new DuplicateError(`event type ${r.name} exists`);
      rows.set(r.id, clone(r));
      audits.push(eventTypeAuditEntry(undefined, r, actor));
      return clone(r);
    },
    async get(idOrName) {
      const r = find(idOrName);
      return r ? clone(r) : undefined;
    },
    async list(f) {
      return [...rows.values()]
        .filter(
          (r) =>
            (f.domain === undefined || r.domain === f.domain) &&
            (f.deprecated === undefined || r.deprecated === f.deprecated),
        )
        .sort((a, b) => a.name.localeCompare(b.name))
        .map(clone);
    },
    async update(id, patch, actor) {
      const r = rows.get(id);
      if (!r) return undefined;
      const next = { ...r, ...patch };
      rows.set(id, next);
      audits.push(eventTypeAuditEntry(r, next, actor));
      return clone(next);
    },
    async delete(id, actor) {
      const r = rows.get(id);
      if (!r) return false;
      rows.delete(id);
      audits.push(eventTypeAuditEntry(r, undefined, actor));
      return true;
    },
  };
}

/**
 * Delivery status fake: nothing held, nothing failing, unless a test sets a subscription's status in `statuses`.
 * Records the calls so tests can check that a list page is read at once.
 */
export function memoryDeliveryStatusReader(): DeliveryStatusReader & {
  statuses: Map<string, DeliveryStatus>;
  calls: string[][];
} {
  const statuses = new Map<string, DeliveryStatus>();
  const calls: string[][] = [];
  return {
    statuses,
    calls,
    async read(subscriptions) {
      calls.push(subscriptions.map((s) => s.id));
      const out = new Map<string, DeliveryStatus>();
      for (const s of subscriptions) {
        const st = statuses.get(s.id);
        if (st) out.set(s.id, clone(st));
      }
      return out;
    },
  };
}
