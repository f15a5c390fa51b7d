/**
 * Stage 2, admit: the delivery gate (shared/delivery/gate.ts) turned into this record's fate.
 *
 *   refuse (unknown, deleted, other tenant, blocked endpoint) ─▶ skipped, with the gate's code and reason
 *   hold (paused) ──────────────────────────────────────────────▶ held (delivered on resume)
 *   admit ──────────────────────────────────────────────────────▶ deliver to `sub`
 *
 * The gate runs before any fast path (breaker, saturated endpoint) and again before every retry (handler.ts).
 */
import { admit, type GateDeps } from '../shared/delivery/gate';
import type { SubscriptionSnapshot } from '../shared/subscriptions/snapshot';
import type { DeliveryOutcome, OutboxItem } from './handler';

export type Admitted =
  | { type: 'deliver'; sub: SubscriptionSnapshot }
  | { type: 'hold'; sub: SubscriptionSnapshot; outcome: Extract<DeliveryOutcome, { type: 'held' }> }
  | { type: 'refuse'; outcome: Extract<DeliveryOutcome, { type: 'skipped' }> };

export function admitRecord(deps: GateDeps, item: OutboxItem): Admitted {
  const gate = admit(deps, item);
  switch (gate.type) {
    case 'refuse':
      return { type: 'refuse', outcome: { type: 'skipped', code: gate.code, reason: gate.reason } };
    case 'hold':
      return { type: 'hold', sub: gate.sub, outcome: { type: 'held', reason: gate.reason } };
    case 'admit':
      return { type: 'deliver', sub: gate.sub };
  }
}
