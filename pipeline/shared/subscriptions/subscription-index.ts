/**
 * In-memory index of subscription snapshots, answering `match(event)` without scanning.
 *
 * Each subscription is filed under its tenant and its exact four-part key (wildcards kept as `*`).
 * A lookup tries the 2^4 = 16 combinations of "the event's value or *" for the four parts, so the cost
 * is constant in the number of subscriptions.
 */
import { type MatchKey, type SubscriptionSnapshot, WILDCARD } from './snapshot';

export interface MatchableEvent extends MatchKey {
  tenantId: string;
}

const SEP = '\u0000';
const keyOf = (k: MatchKey) => [k.sourceService, k.eventType, k.resourceType, k.operationType].join(SEP);

export class SubscriptionIndex {
  private readonly byId = new Map<string, SubscriptionSnapshot>();
  /** tenant -> match key -> subscription ids */
  private readonly byTenant = new Map<string, Map<string, Set<string>>>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): SubscriptionSnapshot | undefined {
    return this.byId.get(id);
  }

  all(): IterableIterator<SubscriptionSnapshot> {
    return this.byId.values();
  }

  /** Applies one changelog record. Older versions never replace newer ones (replays are harmless). */
  apply(id: string, snapshot: SubscriptionSnapshot | null): void {
    const existing = this.byId.get(id);
    if (snapshot && existing && existing.version > snapshot.version) return;
    if (existing) this.unfile(existing);
    if (snapshot === null) {
      this.byId.delete(id);
      return;
    }
    this.byId.set(id, snapshot);
    let keys = this.byTenant.get(snapshot.tenantId);
    if (!keys) {
      keys = new Map();
      this.byTenant.set(snapshot.tenantId, keys);
    }
    const k = keyOf(snapshot.match);
    let ids = keys.get(k);
    if (!ids) {
      ids = new Set();
      keys.set(k, ids);
    }
    ids.add(id);
  }

  /** Active subscriptions of the event's tenant whose key matches (exact or `*` per part). */
  match(event: MatchableEvent, opts: { includePaused?: boolean } = {}): SubscriptionSnapshot[] {
    const keys = this.byTenant.get(event.tenantId);
    if (!keys) return [];
    const parts = [event.sourceService, event.eventType, event.resourceType, event.operationType];
    const literalWildcard = parts.includes(WILDCARD);
    const out: SubscriptionSnapshot[] = [];
    for (let mask = 0; mask < 16; mask++) {
      // When the event itself carries "*" in a part, two masks build the same key: skip the repeat.
      if (literalWildcard && mask > 0 && parts.some((p, i) => mask & (1 << i) && p === WILDCARD)) continue;
      let k = '';
      for (let i = 0; i < 4; i++) {
        if (i > 0) k += SEP;
        k += mask & (1 << i) ? WILDCARD : parts[i];
      }
      const ids = keys.get(k);
      if (!ids) continue;
      for (const id of ids) {
        const s = this.byId.get(id);
        if (s && (opts.includePaused || s.status === 'ACTIVE')) out.push(s);
      }
    }
    return out;
  }

  private unfile(s: SubscriptionSnapshot): void {
    const keys = this.byTenant.get(s.tenantId);
    const k = keyOf(s.match);
    const ids = keys?.get(k);
    if (!keys || !ids) return;
    ids.delete(s.id);
    if (ids.size === 0) keys.delete(k);
    if (keys.size === 0) this.byTenant.delete(s.tenantId);
  }
}
